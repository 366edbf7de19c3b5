"""The sidebar every page shares, and the page preamble that turns its choices into a trained model.

Widget keys (tests drive them): ``data_source``, ``subset``, ``features``, ``mapping``, ``novelty``,
``unseen``. Each value survives page switches (:func:`zsl_app.state.kept`).
"""

from __future__ import annotations

import streamlit as st

from zsl_app import pipeline, state
from zsl_app.progress import StreamlitProgress
from zsl_core.experiment import Config, ConfigError


def page_setup(title: str, icon: str = ":material/home:") -> None:
    """``st.set_page_config`` with the app's defaults (call first on every page)."""
    st.set_page_config(page_title=f"{title} · ZSL Explorer", page_icon=icon, layout="wide")


def _dataset_widgets() -> tuple[str | None, tuple[int, int] | None]:
    sb = st.sidebar
    sb.header("Dataset")
    source = sb.text_input(
        "Dataset path", **state.kept("data_source", state.default_source()),
        placeholder="empty = the default data folder (downloads CIFAR-10)",
        help="A folder, .tar or .tar.gz in image-folder layout (train/<class>/*, test/<class>/*), the official "
             "cifar-10-python.tar.gz, or its extracted cifar-10-batches-py/ folder. Empty: $ZSL_DATA_DIR or "
             "the cache's data folder, where CIFAR-10 is downloaded when missing.",
    )
    state.remember("data_source", source)
    options = state.subset_options()
    default = state.default_subset()
    if default not in options:
        options.insert(0, default)
    subset = sb.selectbox(
        "Images per class", options, format_func=state.subset_label, **state.kept("subset", default, options),
        help="A quick subset trains in seconds on a classroom laptop; the full dataset (50,000 training "
             "images) reproduces the paper's setting but its features take a while to compute the first time.",
    )
    state.remember("subset", subset)
    return (source.strip() or None), subset


def _model_widgets(class_names: list[str]) -> tuple[str, str, str, tuple[str, ...]]:
    sb = st.sidebar
    sb.header("Model")
    feature_options = state.options("features")
    features = sb.radio("Image features", list(feature_options), format_func=feature_options.get,
                        **state.kept("features", state.default_features()))
    state.remember("features", features)
    sb.caption(state.description("features", features))
    mapping_options = state.options("mapping")
    mapping = sb.radio("Mapping into word space (θ)", list(mapping_options), format_func=mapping_options.get,
                       **state.kept("mapping", "linear"),
                       help="Eq. 1 of the paper: image features → 50-d word vectors.")
    state.remember("mapping", mapping)
    novelty_options = state.options("novelty")
    novelty = sb.radio("Novelty detector", list(novelty_options), format_func=novelty_options.get,
                       **state.kept("novelty", "gaussian"),
                       help="Decides whether a mapped image lies on the seen classes' manifold (Eq. 3).")
    state.remember("novelty", novelty)
    default_unseen = [c for c in state.DEFAULT_UNSEEN if c in class_names] or class_names[-2:]
    unseen = sb.multiselect("Held-out (unseen) classes", class_names,
                            **state.kept("unseen", default_unseen, class_names),
                            help="No image of these classes is used for training; the model only knows "
                                 "their names' word vectors.")
    state.remember("unseen", unseen)
    return features, mapping, novelty, tuple(sorted(unseen, key=class_names.index))


def render() -> tuple[Config, object]:
    """Draw the sidebar; return the experiment's settings and the loaded dataset.

    When the dataset cannot be loaded, draws the "how to point the app at a local copy" page and stops.
    """
    from zsl_core.data import DatasetError

    source, subset = _dataset_widgets()
    bar = StreamlitProgress()
    base = Config(data=source, subset=subset)
    try:
        data = pipeline.dataset(base, bar)
    except (DatasetError, OSError) as error:  # OSError: e.g. $ZSL_DATA_DIR names a file, not a folder
        bar.clear()
        no_data_page(error)
        st.stop()
    bar.clear()
    features, mapping, novelty, unseen = _model_widgets(list(data.class_names))
    st.sidebar.caption(f"{data.name}: {len(data.train_labels):,} training / {len(data.test_labels):,} test images.")
    config = base.with_(features=features, feature_params=state.feature_params(features), mapping=mapping,
                        novelty=novelty, unseen=unseen)
    return config, data


def no_data_page(error: Exception) -> None:
    from zsl_core.data import default_data_dir

    st.title("No dataset yet")
    st.error(str(error))
    st.markdown(
        f"""
**How to point the app at a local copy of CIFAR-10**

1. Put one of these anywhere on this computer:
   - the official archive `cifar-10-python.tar.gz` (from <https://www.cs.toronto.edu/~kriz/cifar.html>), or its
     extracted `cifar-10-batches-py/` folder;
   - an image-folder tree `train/<class>/<image>` and `test/<class>/<image>`, as a folder, `.tar` or `.tar.gz`.
2. Type its path in the sidebar's **Dataset path** box, or start the app with
   `ZSL_DATA_DIR=/path/to/it streamlit run app.py`.

With the box empty the app looks in the default data folder `{default_data_dir()}` and downloads CIFAR-10
(163 MB) there when this computer is online.
"""
    )


def load_model(config: Config) -> pipeline.Run:
    """Train (or fetch) the model for ``config`` with visible progress; on an impossible choice, say why
    and stop the page."""
    try:
        config.check_classes(pipeline.dataset(config).class_names)
    except ConfigError as error:
        st.warning(str(error)[:1].upper() + str(error)[1:] + ".")
        st.stop()
    if pipeline.is_cached("run", pipeline.run_key(config)):
        return pipeline.run(config)
    note = st.empty()
    bar = StreamlitProgress()
    try:
        if not pipeline.is_cached("features", pipeline.features_key(config)):
            from zsl_core.cache import cache_dir

            note.caption(f"Preparing {config.features} features of every image. The first time this takes a while; "
                         f"they are then kept in {cache_dir() / 'features'} and later starts take seconds.")
            pipeline.features(config, bar)
        note.empty()
        bar.clear()
        held = " + ".join(config.unseen)
        with st.spinner(f"Training the {config.mapping} mapping, softmax and {config.novelty} novelty "
                        f"detector with {held} held out…"):
            return pipeline.run(config, bar)
    except ConfigError as error:
        st.warning(str(error)[:1].upper() + str(error)[1:] + ".")
        st.stop()
    finally:
        note.empty()
        bar.clear()
