"""Classify a photo: upload one, take one with the camera, click an example or pick a test image, type your
own candidate labels, and follow the photo through the model in plain words."""

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from zsl_app import charts, figures, images, pipeline, sidebar, state, threshold
from zsl_app import words as typed
from zsl_core.data import EXTENSIONS, DatasetError, describe_preparation, prepare_image
from zsl_core.experiment import explain_verdict
from zsl_core.projection import place

sidebar.page_setup("Classify a photo", ":material/photo_camera:")
config, data = sidebar.render()
run = sidebar.load_model(config)

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
SOURCES = {"upload": "Upload", "camera": "Camera", "example": "Examples", "pick": "A test image"}

st.title("Classify a photo")
st.markdown(
    "Upload a photo, take one with the camera, or click an example. It is cut to its centre square and shrunk "
    "to the 32×32 pixels the model sees, mapped into word space, and checked against the seen classes' "
    f"manifold: familiar → softmax over the seen classes; novel → the nearest held-out class (now: "
    f"**{', '.join(run.unseen_names)}**) or one of **your own labels**."
)


def bad_file(name: str, error: DatasetError) -> None:
    message = state.public(error).rstrip(". ")
    if name not in message:
        message = f"{name}: {message}"
    st.error(f"Cannot read this file — {message}. Try another one: a JPEG, PNG, WebP, BMP or GIF photo.",
             icon=":material/broken_image:")


def from_bytes(raw: bytes, name: str):
    """``(raw, image, label, digest)`` of an encoded photo, or ``None`` after a message."""
    try:
        image = prepare_image(raw, name=name)
    except DatasetError as error:
        bad_file(name, error)
        return None
    except Exception:  # noqa: BLE001 - a visitor's file never shows a traceback
        st.error(f"Cannot read this file — {name} could not be decoded. Try a JPEG, PNG, WebP, BMP or GIF photo.",
                 icon=":material/broken_image:")
        return None
    return raw, image, name, images.digest(raw)


def _use_example(name: str) -> None:
    state.set_kept("example", name)


def photo_widgets(run):
    """The photo's source; returns ``(raw bytes or None, 32×32 image, label, digest)`` or ``None``."""
    source = st.radio("Photo", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                      **state.kept("photo_source", "upload"), label_visibility="collapsed")
    state.remember("photo_source", source)
    if source == "upload":
        upload = st.file_uploader("Upload a photo (jpg, png, webp, bmp, gif — a GIF's first frame)",
                                  type=list(EXTENSIONS), key="upload")
        return None if upload is None else from_bytes(upload.getvalue(), upload.name)
    if source == "camera":
        shot = st.camera_input("Take a photo (the browser asks to use the camera)", key="camera")
        return None if shot is None else from_bytes(shot.getvalue(), "camera snapshot")
    if source == "example":
        names = sorted(p.stem for p in EXAMPLES.glob("*.png"))
        chosen = state.get_kept("example")
        columns = st.columns(len(names))
        for column, name in zip(columns, names):
            column.image(str(EXAMPLES / f"{name}.png"), width="stretch")
            column.button(name, key=f"example_{name}", on_click=_use_example, args=(name,), width="stretch",
                          type="primary" if name == chosen else "secondary")
        st.caption("Example pictures drawn by code for this app (CC0; see assets/examples/LICENSE.md).")
        if chosen not in names:
            return None
        return from_bytes((EXAMPLES / f"{chosen}.png").read_bytes(), f"example: {chosen}")
    c1, c2, c3 = st.columns([2, 3, 1])
    cls = c1.selectbox("Class", run.class_names,
                       format_func=lambda c: f"{c} (held out)" if c in run.unseen_names else c,
                       **state.kept("pick_class", run.unseen_names[0], run.class_names))
    state.remember("pick_class", cls)
    rows = np.flatnonzero(run.y_test == run.class_names.index(cls))
    if len(rows) == 0:
        c2.info(f"The test split has no image of {cls}.")
        return None
    if state.get_kept("pick_index", 0) >= len(rows):
        state.set_kept("pick_index", 0)
    i = c2.slider(f"Test image of {cls}", 0, max(1, len(rows) - 1), **state.kept("pick_index", 0))
    state.remember("pick_index", i)
    c3.button("Random", icon=":material/casino:", key="pick_random",
              on_click=lambda: state.set_kept("pick_index", int(np.random.default_rng().integers(len(rows)))))
    r = int(rows[min(i, len(rows) - 1)])
    return None, np.asarray(run.dataset.test_images[r]), f"test image #{r} ({cls})", f"test-{r}"


def label_widgets(run) -> tuple[str, ...]:
    """Typed candidate labels: any words, joining the held-out classes at once (no retraining)."""
    text = st.text_input("Your own candidate labels (any words, comma-separated)", **state.kept("labels", ""),
                         placeholder="e.g. tiger, bus, violin",
                         help="Each word's vector becomes a prototype like the held-out classes' (no retraining): "
                              "a photo called novel can now be named after it.")
    state.remember("labels", text)
    found = typed.parse(text, pipeline.words(), run.class_names)
    for message in found.messages():
        st.warning(message, icon=":material/spellcheck:")
    if found.classes:
        st.info(f"Left out {', '.join(found.classes)}: already a class of the dataset.")
    return tuple(found.words)


photo = photo_widgets(run)
extra = label_widgets(run)
if state.presenting():
    t = threshold.current(run)
else:
    with st.expander("Novelty threshold (shared with the Threshold tradeoff page)", expanded=False):
        t, _ = threshold.slider(run)
        st.caption(threshold.describe_cutoff(config.novelty, t))

if photo is None:
    st.info("Upload a photo, take one, click an example or pick a test image to see the verdict.")
    st.stop()

raw, image, label, digest = photo
result = pipeline.classify(run, image, digest, t, extra)
why = explain_verdict(run, result)
names = run.class_names + list(extra)
candidates = run.unseen_names + list(extra)
best = result["class"]

col_photo, col_small, col_verdict = st.columns([1, 1, 2])
with col_photo:
    st.markdown("**Your photo**" if raw is not None else "**The test image**")
    if raw is not None:
        prep = describe_preparation(raw, name=label)
        shown = images.on_white(raw) if prep["transparent"] else images.display_photo(raw)
        if prep["cropped"]:
            shown = images.outline_crop(shown, prep["size"], prep["crop"])
        notes = []
        if prep["cropped"]:
            notes.append(f"the model keeps only the centre square (outlined, {prep['kept_share']:.0%} of the photo)")
        if prep["transparent"]:
            notes.append("transparent parts are filled with white")
        st.image(shown, width="stretch", caption=label)
        if notes:
            st.caption("What happens to it: " + "; ".join(notes) + ".")
    else:
        st.image(images.enlarge(image, 224), width="stretch", caption=label)
with col_small:
    st.markdown("**What the model sees**")
    st.image(images.enlarge(image, 224), width="stretch", caption="32×32 pixels, enlarged without smoothing")
with col_verdict:
    st.markdown("**Verdict**")
    if result["novel"]:
        st.warning(f"**Novel** — not like the seen classes. Nearest candidate: **{best}**.",
                   icon=":material/new_releases:")
    else:
        st.success(f"**Seen class** — like the seen classes. Softmax says: **{best}**.",
                   icon=":material/check_circle:")
    st.metric("Predicted class", best, help="The most probable of all classes and your labels under Eq. 2 at the "
                                            "shared threshold (test images set the threshold's share).")
    st.markdown(f"**Why.** {why['sentences']['why']}  \n**What the gate did.** {why['sentences']['gate']}  \n"
                f"{why['sentences']['otherwise']}")
    if extra:
        st.caption(f"Candidates for a novel photo: {', '.join(candidates)} (your labels joined the held-out "
                   f"classes; nothing was retrained).")

c1, c2 = st.columns(2)
with c1:
    st.markdown("**Top classes** (probabilities of Eq. 2 at this threshold; orange = held out or yours)")
    proba = np.array([result["probabilities"][n] for n in names])
    top = np.argsort(-proba)[:5]
    charts.show(figures.probability_bars([names[i] for i in top], proba[top], candidates), "proba_bars",
                "probabilities", pd.DataFrame({"class": names, "probability": proba}))
with c2:
    near = pipeline.nearest_words(tuple(float(v) for v in result["mapped"]), 10)
    st.markdown("**Nearest words in the whole GloVe vocabulary** (400,000 words, cosine similarity to where "
                "the photo landed):")
    st.markdown(" · ".join(f"`{w}` {s:.2f}" for w, s in near))
    rows = pipeline.nearest_training_images(run.key, digest, run, image, 6)
    st.markdown("**The training images it most resembles** (seen classes only: the model never saw a "
                "held-out image)")
    st.image([images.enlarge(run.dataset.train_images[r], 64) for r in rows], width=64,
             caption=[run.class_names[int(run.dataset.train_labels[r])] for r in rows])

st.markdown("**Where it lands in the word space** (PCA of the 50-d space; dots: mapped test images; stars: the "
            "classes' word vectors; hollow stars: your labels)")
view = pipeline.pca_view(run.key, run)
photo_xy = place(view, result["mapped"])[0]
extra_xy = place(view, pipeline.words().class_vectors(list(extra))) if extra else None
charts.show(figures.landing_figure(view["points"], view["labels"], view["stars"], photo_xy, run.class_names,
                                   run.unseen_names, extra_xy=extra_xy, extra_names=list(extra), height=480),
            "landing", "landing")
