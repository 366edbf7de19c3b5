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
    """The dataset box's initial text: ``$ZSL_DATA_DIR``, else empty (= the engine's default folder).

    Empty when the app is shared: the box would otherwise show every visitor a path of the server.
    """
    if shared():
        return ""
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


# The size choices are strings ("500,100", "full"): a selectbox whose value is None shows its placeholder
# ("Choose an option") instead of the chosen option, which is what "Full dataset" looked like (issue 9).
FULL = "full"
QUICK_SUBSET = "500,100"


def subset_text(value: tuple[int, int] | None) -> str:
    return FULL if value is None else f"{value[0]},{value[1]}"


def subset_options() -> list[str]:
    """The size choices: ``$ZSL_APP_SUBSET`` (if set), a quick subset, a larger one, the full dataset."""
    options = [QUICK_SUBSET, "2000,400", FULL]
    env = default_subset()
    if env not in options:
        options.insert(0, env)
    return options


def default_subset() -> str:
    """``$ZSL_APP_SUBSET`` when set (``"full"`` = everything), else the quick subset; always an option string."""
    env = os.environ.get("ZSL_APP_SUBSET")
    if env is not None:
        return subset_text(parse_subset(env))
    return QUICK_SUBSET


def subset_label(option: str) -> str:
    value = parse_subset(option)
    if value is None:
        return "Full dataset (every image)"
    return f"{value[0]:,} train / {value[1]:,} test per class"


# --- a shared server -------------------------------------------------------------------------------------------

def shared() -> bool:
    """Whether the app is served to others (``$ZSL_ALLOWED_DATA_DIRS`` set): then no server path is shown."""
    from zsl_core.data.serving import allowed_data_dirs

    return allowed_data_dirs() is not None


def public(text: str) -> str:
    """An engine message fit for this visitor's screen: the server's folders taken out when shared."""
    from zsl_core.data import public_message

    return public_message(str(text)) if shared() else str(text)


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
    # Hand the value back only when the widget does not hold it already: writing a widget's state makes
    # Streamlit send the value to the browser, and an echo arriving between two quick key presses undid one
    # (ten presses of → on the threshold slider moved it by nine).
    # On another page the widget is a new one and must be given the value.
    page, drawn = _page(), KEEP_PREFIX + "page." + key
    if (st.session_state.get(drawn) != page or key not in st.session_state
            or st.session_state[key] != st.session_state[store]):
        st.session_state[key] = st.session_state[store]
    st.session_state[drawn] = page
    return {"key": key, "on_change": _copy_to_store, "args": (key,)}


def _page() -> str | None:
    """The page this run draws (its script hash), or ``None`` outside a script run."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return None if ctx is None else ctx.page_script_hash
    except Exception:  # noqa: BLE001 - an internal API: without it, always hand the value back
        return None


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


# --- the setup in the URL --------------------------------------------------------------------------------------
#
# A teacher prepares a setup and shares a link: the sidebar's settings, the threshold and presentation mode
# travel in the query string (``st.query_params``). The dataset path never does (a link must not carry a file
# name of the server); the link's receiver uses the server's default dataset or types their own.

URL_KEYS = {"subset": "subset", "features": "features", "mapping": "mapping", "novelty": "novelty",
            "unseen": "unseen", "novel_pct": "novel", "present": "present"}


def read_url() -> None:
    """Once per session, before any widget is drawn: take the settings a shared link carries.

    Unknown or malformed values are ignored (the widget's default stands); held-out classes are checked against
    the dataset later, by the widget itself (:func:`kept` with its options).
    """
    if st.session_state.get("_url_read"):
        return
    st.session_state["_url_read"] = True
    params = st.query_params
    get = lambda name: params.get(URL_KEYS[name])  # noqa: E731
    if get("subset") is not None:
        value = get("subset").strip().lower()
        if value == FULL or parse_subset(value) is not None:
            set_kept("subset", subset_text(parse_subset(value)))
    for kind in ("features", "mapping", "novelty"):
        if get(kind) in options(kind):
            set_kept(kind, get(kind))
    if get("unseen") is not None:
        set_kept("unseen", [u.strip() for u in get("unseen").split(",") if u.strip()])
    if get("novel_pct") is not None:
        try:
            pct = float(get("novel_pct"))
        except ValueError:
            pct = float("nan")
        if 0.0 <= pct <= 100.0:
            set_kept("novel_pct", round(pct, 1))
            st.session_state["_threshold_from_url"] = True
    if get("present") is not None:
        set_kept("present", get("present").lower() in ("1", "true", "yes", "on"))


def url_params(values: dict) -> dict[str, str]:
    """The query string of a setup (sidebar values, threshold, presentation): only what differs from nothing."""
    out = {}
    for key, name in URL_KEYS.items():
        value = values.get(key)
        if value is None or value == "" or value is False:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        elif value is True:
            value = "1"
        elif isinstance(value, float):
            value = f"{value:g}"
        out[name] = str(value)
    return out


def current_setup() -> dict:
    """The values that make up this session's setup, for the URL and the share link.

    The threshold is left out while it is the model's own (nobody moved it): the link's receiver then gets
    the model's own threshold too, whatever their model.
    """
    values = {key: get_kept(key) for key in URL_KEYS}
    auto = st.session_state.get("_novel_pct_auto")
    if auto is not None and values.get("novel_pct") == auto:
        values["novel_pct"] = None
    return values


def write_url(values: dict | None = None) -> dict[str, str]:
    """Put the setup in the browser's address bar (without a rerun); returns the parameters written."""
    wanted = url_params(current_setup() if values is None else values)
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)
    return wanted


def presenting() -> bool:
    """Presentation mode: larger type, fewer controls (sidebar toggle or ``?present=1``)."""
    return bool(get_kept("present", False))
