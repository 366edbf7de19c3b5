"""Per-session choices: the sidebar's values, kept across pages, and the defaults read from the environment.

Streamlit forgets a widget's value when a page that does not draw it runs. Every widget that must survive a
page switch therefore keeps a shadow copy under ``_keep.<key>`` (see :func:`kept`), and values that other
pages change (the held-out set from the pairs page, the threshold from the classify page) go through
:func:`set_kept`, called from a widget callback so it runs before the widgets are drawn.

Everything here is per browser session (``st.session_state``); two sessions never see each other's choices.
"""

from __future__ import annotations

import json
import os

import streamlit as st

KEEP_PREFIX = "_keep."

DEFAULT_UNSEEN = ("cat", "truck")


def options(kind: str) -> dict[str, str]:
    """The engine's registry of one kind of option (``features``, ``mapping``, ``novelty``, ``gate``):
    name → label, so the app never lists option names of its own."""
    from zsl_core.features import EXTRACTORS
    from zsl_core.model import DETECTORS, GATES, MAPPINGS

    if kind == "gate":
        return dict(GATES)
    registry = {"features": EXTRACTORS, "mapping": MAPPINGS, "novelty": DETECTORS}[kind]
    return {name: cls.label for name, cls in registry.items()}


def description(kind: str, name: str) -> str:
    """The engine's one-sentence description of an option."""
    from zsl_core.features import EXTRACTORS
    from zsl_core.model import DETECTORS, MAPPINGS

    registry = {"features": EXTRACTORS, "mapping": MAPPINGS, "novelty": DETECTORS}.get(kind, {})
    return getattr(registry.get(name), "description", "")


# --- defaults from the environment -------------------------------------------------------------------------

def default_source() -> str:
    """The dataset box's initial text: ``$ZSL_DATA_DIR``, else empty (= the engine's default folder)."""
    return os.environ.get("ZSL_DATA_DIR", "")


def parse_subset(text: str | None) -> tuple[int, int] | None:
    """``"500,100"`` -> ``(500, 100)``; empty, ``"full"`` or malformed -> ``None``."""
    if not text or text.strip().lower() in ("full", "none", "all"):
        return None
    try:
        train, test = (int(part) for part in text.split(","))
    except ValueError:
        return None
    if train <= 0 or test <= 0:
        return None
    return train, test


QUICK_SUBSET = (500, 100)


def subset_options() -> list[tuple[int, int] | None]:
    """The size choices: ``$ZSL_APP_SUBSET`` (if set), a quick subset, a larger one, the full dataset."""
    options: list[tuple[int, int] | None] = [QUICK_SUBSET, (2000, 400), None]
    env = parse_subset(os.environ.get("ZSL_APP_SUBSET"))
    if env is not None and env not in options:
        options.insert(0, env)
    return options


def default_subset() -> tuple[int, int] | None:
    """``$ZSL_APP_SUBSET`` when set (``"full"`` = everything), else the quick subset."""
    env = os.environ.get("ZSL_APP_SUBSET")
    if env is not None:
        return parse_subset(env)
    return QUICK_SUBSET


def subset_label(option: tuple[int, int] | None) -> str:
    if option is None:
        return "Full dataset (every image)"
    return f"{option[0]:,} train / {option[1]:,} test per class"


def default_features() -> str:
    name = os.environ.get("ZSL_APP_FEATURES", "efficientnet")
    return name if name in options("features") else "efficientnet"


def feature_params(name: str) -> dict:
    """Extractor parameters from ``$ZSL_APP_FEATURE_PARAMS`` (JSON ``{"efficientnet": {...}}``)."""
    raw = os.environ.get("ZSL_APP_FEATURE_PARAMS", "")
    if not raw:
        return {}
    try:
        return dict(json.loads(raw).get(name, {}))
    except (ValueError, AttributeError, TypeError):
        return {}


# --- widget values that survive page switches --------------------------------------------------------------

def kept(key: str, default, options=None):
    """Widget keyword arguments (``key``, ``on_change``) for a widget whose value survives page switches.

    Streamlit ties a widget's value to the page that drew it, so on another page the same key would start
    from the widget's default. The value therefore lives in a shadow copy (``_keep.<key>``), updated by the
    widget's ``on_change`` callback (which runs before the script), and is handed back to the widget through
    session state on every run. Pass no ``value``/``index``/``default`` to the widget. With ``options``, a
    remembered value no longer among them falls back to ``default`` (lists keep their valid items).
    """
    store = KEEP_PREFIX + key
    if store not in st.session_state:
        st.session_state[store] = st.session_state.get(key, default)
    if options is not None:  # the options may have changed since (another dataset, another held-out set)
        value = st.session_state[store]
        if isinstance(value, list):
            value = [v for v in value if v in options] or (list(default) if value else [])
        elif value not in options:
            value = default
        st.session_state[store] = value
    st.session_state[key] = st.session_state[store]
    return {"key": key, "on_change": _copy_to_store, "args": (key,)}


def _copy_to_store(key: str) -> None:
    st.session_state[KEEP_PREFIX + key] = st.session_state[key]


def remember(key: str, value) -> None:
    """Record a widget's current value in its shadow copy (call after drawing the widget)."""
    st.session_state[KEEP_PREFIX + key] = value


def get_kept(key: str, default=None):
    if key in st.session_state:
        return st.session_state[key]
    return st.session_state.get(KEEP_PREFIX + key, default)


def set_kept(key: str, value) -> None:
    """Change a kept widget's value from a callback (before the widget is drawn in this run)."""
    st.session_state[KEEP_PREFIX + key] = value
    st.session_state[key] = value
