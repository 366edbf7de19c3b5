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
from dataclasses import dataclass, replace

import streamlit as st

KEEP_PREFIX = "_keep."

FEATURES = ("coates", "efficientnet")
FEATURE_LABELS = {
    "coates": "Unsupervised (Coates & Ng, the paper's)",
    "efficientnet": "Pretrained CNN (EfficientNet-Lite0)",
}
MAPPINGS = ("linear", "mlp")
MAPPING_LABELS = {"linear": "Linear (ridge)", "mlp": "2-layer tanh net (the paper's)"}
NOVELTY = ("gaussian", "loop")
NOVELTY_LABELS = {"gaussian": "Isometric Gaussians", "loop": "LoOP (local outlier probability)"}
DEFAULT_UNSEEN = ("cat", "truck")


@dataclass(frozen=True)
class Choices:
    """Everything that determines a trained model; hashable, so it keys the process-wide caches."""

    source: str | None  # dataset path, None = the engine's default (downloads CIFAR-10 if missing)
    subset: tuple[int, int] | None  # (train_per_class, test_per_class); None = the full dataset
    features: str
    feature_params: str  # canonical JSON of the extractor's parameters ("{}" = its defaults)
    mapping: str
    novelty: str
    unseen: tuple[str, ...]

    def with_(self, **changes) -> "Choices":
        return replace(self, **changes)

    def describe(self) -> str:
        size = ("full dataset" if self.subset is None
                else f"{self.subset[0]:,} train / {self.subset[1]:,} test per class")
        return (f"{self.features} features · {self.mapping} mapping · {self.novelty} novelty · "
                f"held out: {', '.join(self.unseen) or 'none'} · {size}")


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
    return name if name in FEATURES else "efficientnet"


def feature_params(name: str) -> str:
    """Extractor parameters from ``$ZSL_APP_FEATURE_PARAMS`` (JSON ``{"efficientnet": {...}}``), as JSON."""
    raw = os.environ.get("ZSL_APP_FEATURE_PARAMS", "")
    params = {}
    if raw:
        try:
            params = dict(json.loads(raw).get(name, {}))
        except (ValueError, AttributeError, TypeError):
            params = {}
    return json.dumps(params, sort_keys=True)


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
