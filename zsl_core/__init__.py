"""ZSL Explorer's engine: zero-shot learning through cross-modal transfer (Socher et al., NIPS 2013).

numpy in, numpy out; never imports Streamlit. See docs/ARCHITECTURE.md for the module map.
"""

__version__ = "0.1.0"
