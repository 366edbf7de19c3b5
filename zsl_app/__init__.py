"""The Streamlit side of ZSL Explorer: sidebar, cached pipeline, figure builders.

Pages (``app.py``, ``pages/*.py``) stay thin: they read the sidebar's :class:`~zsl_core.experiment.Config`, ask
:mod:`zsl_app.pipeline` for cached results and hand them to :mod:`zsl_app.figures`. Everything that computes
lives in ``zsl_core``; this package only composes, caches and draws.
"""
