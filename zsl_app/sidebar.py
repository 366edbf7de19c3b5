"""The sidebar every page shares, and the page preamble that turns its choices into a trained model.

Widget keys (tests drive them): ``data_source``, ``data_upload``, ``subset``, ``features``, ``mapping``,
``novelty``, ``unseen``, ``present``. Each value survives page switches (:func:`zsl_app.state.kept`) and,
except the dataset, travels in the page's URL (:func:`zsl_app.state.write_url`).
"""

from __future__ import annotations

import streamlit as st

from zsl_app import longwork, pipeline, state
from zsl_app.progress import StreamlitProgress
from zsl_core.experiment import Config, ConfigError

#: The engine's default detector (the one that won on seen-class validation, see ``Config``).
#: The app retrains on every new held-out set, so it starts with the paper's detector (a fit of about a second on
#: the quick subset); the learned gate, which wins on seen-class validation and is the engine's and the report's
#: default, trains for tens of seconds (its pseudo-unseen splits) and is one click away, in the sidebar and on the
#: threshold page's detector comparison.
DEFAULT_DETECTOR = "gaussian"

#: Presentation mode: larger type for a projector, less chrome.
PRESENT_CSS = """
<style>
html { font-size: 19px; }
[data-testid="stMetricValue"] { font-size: 2.4rem; }
[data-testid="stMetricLabel"] p { font-size: 1.05rem; }
[data-testid="stHeader"] { display: none; }
[data-testid="stMainBlockContainer"] { padding-top: 1.5rem; }
</style>
"""


def page_setup(title: str, icon: str = ":material/home:") -> None:
    """``st.set_page_config`` with the app's defaults (call first on every page); reads a shared link's setup."""
    state.read_url()
    st.set_page_config(page_title=f"{title} · ZSL Explorer", page_icon=icon, layout="wide",
                       initial_sidebar_state="collapsed" if state.presenting() else "auto")
    if state.presenting():
        st.html(PRESENT_CSS)


def _dataset_widgets() -> tuple[str | None, tuple[int, int] | None]:
    sb = st.sidebar
    sb.header("Dataset")
    source = sb.text_input(
        "Dataset path", **state.kept("data_source", state.default_source()),
        placeholder="empty = the default dataset" if state.shared()
        else "empty = the default data folder (downloads CIFAR-10)",
        help="A folder, .tar or .tar.gz in image-folder layout (train/<class>/*, test/<class>/*), the official "
             "cifar-10-python.tar.gz, or its extracted cifar-10-batches-py/ folder. Empty: the default dataset."
             + (" On this shared server only the datasets its owner provides can be named."
                if state.shared() else ""),
    )
    state.remember("data_source", source)
    upload = sb.file_uploader(
        "…or upload a zipped image folder", type=["zip", "tar", "gz", "tgz"], key="data_upload",
        help="A .zip or .tar.gz of train/<class>/<image> and test/<class>/<image>; read in memory, never "
             "stored on the server. Class names must be words (the word vectors need them).")
    options = state.subset_options()
    subset = sb.selectbox(
        "Images per class", options, format_func=state.subset_label,
        **state.kept("subset", state.default_subset(), options),
        help="A quick subset trains in seconds on a classroom laptop; the full dataset (50,000 training "
             "images) reproduces the paper's setting but its features take a while to compute the first time.",
    )
    state.remember("subset", subset)
    data = source.strip() or None
    if upload is not None:
        data = _uploaded(upload)
    return data, state.parse_subset(subset)


def _uploaded(upload) -> str | None:
    """Decode an uploaded dataset (cached by its bytes); its ``Config.data`` name, or ``None`` after a message."""
    from zsl_app.images import digest
    from zsl_core.data import DatasetError

    raw = upload.getvalue()
    key = digest(raw)
    bar = StreamlitProgress(st.sidebar)
    try:
        pipeline.uploaded_dataset(key, raw, upload.name, bar)
    except DatasetError as error:
        st.sidebar.error(f"Cannot use this upload — {state.public(error)}", icon=":material/folder_off:")
        return st.session_state.get(state.KEEP_PREFIX + "data_source") or None
    except Exception:  # noqa: BLE001 - a visitor's file never shows a traceback
        st.sidebar.error(f"Cannot use this upload — {upload.name} could not be read as a zipped image folder.",
                         icon=":material/folder_off:")
        return st.session_state.get(state.KEEP_PREFIX + "data_source") or None
    finally:
        bar.clear()
    return pipeline.UPLOAD_PREFIX + key


def _model_widgets(class_names: list[str]) -> tuple[str, str, str, tuple[str, ...]]:
    sb = st.sidebar
    sb.header("Model")
    feature_options = state.options("features")
    features = sb.radio("Image features", list(feature_options), format_func=feature_options.get,
                        **state.kept("features", state.default_features(), list(feature_options)))
    state.remember("features", features)
    sb.caption(state.description("features", features))
    mapping_options = state.options("mapping")
    mapping = sb.radio("Mapping into word space (θ)", list(mapping_options), format_func=mapping_options.get,
                       **state.kept("mapping", "linear", list(mapping_options)),
                       help="Eq. 1 of the paper: image features → 50-d word vectors.")
    state.remember("mapping", mapping)
    novelty_options = state.options("novelty")
    novelty = sb.radio("Novelty detector", list(novelty_options), format_func=novelty_options.get,
                       **state.kept("novelty", DEFAULT_DETECTOR, list(novelty_options)),
                       help="Decides whether an image is of a seen class or a held-out one. The paper's: Eq. 3 "
                            "Gaussians (the default here) and LoOP. The learned gate combines all the others and "
                            "wins on seen-class validation, but trains for tens of seconds per held-out set.")
    state.remember("novelty", novelty)
    default_unseen = [c for c in state.DEFAULT_UNSEEN if c in class_names] or class_names[-2:]
    unseen = sb.multiselect("Held-out (unseen) classes", class_names,
                            **state.kept("unseen", default_unseen, class_names),
                            help="No image of these classes is used for training; the model only knows "
                                 "their names' word vectors.")
    state.remember("unseen", unseen)
    return features, mapping, novelty, tuple(sorted(unseen, key=class_names.index))


def _data_warnings(data) -> None:
    """The dataset's load warnings (skipped files, empty classes) and unusable cache folders, with counts."""
    from zsl_core.cache import cache_warnings

    for warning in getattr(data, "warnings", ()):  # each says how many and gives examples
        text = state.public(str(warning))
        st.sidebar.warning(text[:1].upper() + text[1:], icon=":material/warning:")
    for warning in cache_warnings():
        text = state.public(str(warning))
        st.sidebar.warning(text[:1].upper() + text[1:] + ". Everything still works.",
                           icon=":material/sd_card_alert:")


#: The share box: the page's own address, read in the browser when it is shown or copied, so it always holds
#: the latest threshold (the slider reruns only its fragment, which cannot redraw the sidebar). The copy uses
#: the clipboard API where the page is a secure context (localhost, HTTPS) and a selected-text copy elsewhere
#: (a classroom LAN on plain HTTP).
SHARE_HTML = """
<div style="font-family: sans-serif; font-size: 13px;">
  <input id="link" readonly style="width: 100%; box-sizing: border-box; padding: 6px; font-size: 12px;
         border: 1px solid #cbd5e1; border-radius: 6px; color: #111827;" aria-label="Link to this setup">
  <button id="copy" style="margin-top: 6px; padding: 6px 12px; border: 1px solid #cbd5e1; border-radius: 6px;
          background: white; cursor: pointer; font-size: 13px;">Copy link</button>
  <span id="done" style="margin-left: 6px; color: #16a34a;"></span>
</div>
<script>
  const field = document.getElementById("link");
  const here = () => { try { return window.parent.location.href; } catch (e) { return window.location.href; } };
  const show = () => { if (document.activeElement !== field) field.value = here(); };
  show(); setInterval(show, 500);
  document.getElementById("copy").addEventListener("click", async () => {
    field.value = here();
    let ok = false;
    try { await navigator.clipboard.writeText(field.value); ok = true; } catch (e) {}
    if (!ok) { field.focus(); field.select(); try { ok = document.execCommand("copy"); } catch (e) {} }
    document.getElementById("done").textContent = ok ? "Copied" : "Select the link and copy it";
  });
</script>
"""


def _share_widgets() -> None:
    sb = st.sidebar
    sb.header("Share")
    present = sb.toggle("Presentation mode", **state.kept("present", False),
                        help="Larger type and fewer controls, for a projector (1,024 × 768 and up).")
    state.remember("present", present)
    state.write_url()
    sb.iframe(SHARE_HTML, height=82, alt="Link to this setup")  # our own constant HTML, nothing a visitor typed
    sb.caption("The link holds the sidebar's settings, the novelty threshold (once moved) and presentation "
               "mode; never a dataset path (a link must not carry the server's file names).")


def render() -> tuple[Config, object]:
    """Draw the sidebar; return the experiment's settings and the loaded dataset.

    When the dataset cannot be loaded, draws the "how to point the app at a local copy" page and stops.
    """
    from zsl_core.data import DatasetError

    source, subset = _dataset_widgets()
    bar = StreamlitProgress()
    try:
        if source is not None and not source.startswith(pipeline.UPLOAD_PREFIX):
            from zsl_core.data import check_allowed_path

            source = str(check_allowed_path(source))
        base = Config(data=source, subset=subset)
        data = pipeline.dataset(base, bar)
    except (DatasetError, OSError) as error:  # OSError: e.g. $ZSL_DATA_DIR names a file, not a folder
        bar.clear()
        no_data_page(error)
        st.stop()
    bar.clear()
    _data_warnings(data)
    features, mapping, novelty, unseen = _model_widgets(list(data.class_names))
    st.sidebar.caption(f"{data.name}: {len(data.train_labels):,} training / {len(data.test_labels):,} test images.")
    _share_widgets()
    config = base.with_(features=features, feature_params=state.feature_params(features), mapping=mapping,
                        novelty=novelty, unseen=unseen)
    return config, data


def no_data_page(error: Exception) -> None:
    from zsl_core.data import default_data_dir

    st.title("No dataset yet")
    st.error(state.public(error))
    folder = ("the server's default data folder" if state.shared() else f"the default data folder "
              f"`{default_data_dir()}`")
    st.markdown(
        f"""
**How to point the app at a local copy of CIFAR-10**

1. Put one of these anywhere on this computer:
   - the official archive `cifar-10-python.tar.gz` (from <https://www.cs.toronto.edu/~kriz/cifar.html>), or its
     extracted `cifar-10-batches-py/` folder;
   - an image-folder tree `train/<class>/<image>` and `test/<class>/<image>`, as a folder, `.tar` or `.tar.gz`.
2. Type its path in the sidebar's **Dataset path** box, or start the app with
   `ZSL_DATA_DIR=/path/to/it streamlit run app.py`. Or upload it as a `.zip` in the sidebar.

With the box empty the app looks in {folder} and downloads CIFAR-10 (163 MB) there when this computer is online.
"""
    )


def _warn(error: ConfigError) -> None:
    text = state.public(error)
    st.warning(text[:1].upper() + text[1:] + ".")
    st.stop()


def load_model(config: Config) -> pipeline.Run:
    """Train (or fetch) the model for ``config``: a plan and a confirmation before long work, one progress bar
    for every stage, a cancel button; on an impossible choice, say why and stop the page."""
    data = pipeline.dataset(config)
    try:
        config.check_classes(data.class_names)
    except ConfigError as error:
        _warn(error)
    key = pipeline.run_key(config)
    if pipeline.is_cached("run", key):
        return pipeline.run(config)
    plan = pipeline.plan(config)
    held = " + ".join(config.unseen)
    longwork.confirm(key, plan, f"Training the model with {held} held out",
                     alternative="A smaller *Images per class* choice or EfficientNet features make it quicker.")
    try:
        with longwork.running(key, plan, f"Training the model with {held} held out") as bar:
            return pipeline.run(config, bar)
    except ConfigError as error:
        _warn(error)
