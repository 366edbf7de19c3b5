"""Classify a photo: upload one (or pick a test image) and follow it through the model."""

import numpy as np
import streamlit as st

from zsl_app import figures, images, pipeline, sidebar, state, threshold
from zsl_core.data import EXTENSIONS, DatasetError, prepare_image

sidebar.page_setup("Classify a photo", ":material/photo_camera:")
config, data = sidebar.render()
run = sidebar.load_model(config)

st.title("Classify a photo")
st.markdown(
    "Upload any photo (or pick a test image). It is shrunk to the 32×32 pixels the model sees, mapped into word "
    f"space, and checked against the seen classes' manifold: familiar → softmax over the seen classes; novel → "
    f"the nearest held-out class (now: **{', '.join(run.unseen_names)}**)."
)

SOURCES = {"upload": "Upload a photo", "pick": "Pick a test image"}
source = st.radio("Photo", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                  **state.kept("photo_source", "upload"), label_visibility="collapsed")
state.remember("photo_source", source)

photo, image, label, digest = None, None, None, None
if source == "upload":
    upload = st.file_uploader("Upload a photo (jpg, png, webp, bmp, gif — a GIF's first frame)",
                              type=list(EXTENSIONS), key="upload")
    if upload is not None:
        raw = upload.getvalue()
        try:
            image = prepare_image(raw, name=upload.name)
        except DatasetError as error:
            message = str(error).rstrip(". ")
            if upload.name not in message:
                message = f"{upload.name}: {message}"
            st.error(f"Cannot read this file — {message}. Try another one: a JPEG, PNG, WebP, BMP or GIF photo.",
                     icon=":material/broken_image:")
        else:
            photo, label, digest = raw, upload.name, images.digest(raw)
else:
    c1, c2, c3 = st.columns([2, 3, 1])
    cls = c1.selectbox("Class", run.class_names,
                       format_func=lambda c: f"{c} (held out)" if c in run.unseen_names else c,
                       **state.kept("pick_class", run.unseen_names[0], run.class_names))
    state.remember("pick_class", cls)
    rows = np.flatnonzero(run.y_test == run.class_names.index(cls))
    if len(rows) == 0:
        c2.info(f"The test split has no image of {cls}.")
    else:
        if state.get_kept("pick_index", 0) >= len(rows):
            state.set_kept("pick_index", 0)
        i = c2.slider(f"Test image of {cls}", 0, max(1, len(rows) - 1), **state.kept("pick_index", 0))
        state.remember("pick_index", i)
        c3.button("Random", icon=":material/casino:", key="pick_random",
                  on_click=lambda: state.set_kept("pick_index", int(np.random.default_rng().integers(len(rows)))))
        r = int(rows[min(i, len(rows) - 1)])
        image = np.asarray(run.dataset.test_images[r])
        label, digest = f"test image #{r} ({cls})", f"test-{r}"

with st.expander("Novelty threshold (shared with the Threshold tradeoff page)", expanded=False):
    t, _ = threshold.slider(run)
    st.caption(threshold.describe_cutoff(config.novelty, t))

if image is None:
    st.info("Upload a photo or pick a test image to see the verdict.")
    st.stop()

result = pipeline.classify(run, image, digest, t)
names = run.class_names
best = names[result["prediction"]]

col_photo, col_small, col_verdict = st.columns([2, 2, 3])
with col_photo:
    st.markdown("**Your photo**" if photo is not None else "**The test image**")
    st.image(images.display_photo(photo) if photo is not None else images.enlarge(image, 224), width=224,
             caption=label)
with col_small:
    st.markdown("**What the model sees**")
    st.image(images.enlarge(image, 224), width=224, caption="32×32 pixels, enlarged without smoothing")
with col_verdict:
    st.markdown("**Verdict**")
    score = f"novelty score {result['novelty']:.4g} vs cutoff {t:.4g} ({threshold.score_name(config.novelty)})"
    if result["novel"]:
        st.warning(f"**Novel** — not on any seen class's manifold ({score}). Nearest held-out class: **{best}**.",
                   icon=":material/new_releases:")
    else:
        st.success(f"**Seen class** — on the seen classes' manifold ({score}). Softmax says: **{best}**.",
                   icon=":material/check_circle:")
    st.metric("Predicted class", best, help="The most probable of all classes under Eq. 2 at the shared threshold.")
    st.caption(f"Threshold: {threshold.describe_cutoff(config.novelty, t)}; move it with the slider above.")

c1, c2 = st.columns(2)
with c1:
    st.markdown("**Top classes** (probabilities of Eq. 2 at this threshold; orange = held out)")
    proba = np.array([result["probabilities"][name] for name in names])
    top = np.argsort(-proba)[:5]
    st.plotly_chart(figures.probability_bars([names[i] for i in top], proba[top], run.unseen_names),
                    key="proba_bars", width="stretch")
    near = pipeline.nearest_words(tuple(float(v) for v in result["mapped"]), 10)
    st.markdown("**Nearest words in the whole GloVe vocabulary** (400,000 words, cosine similarity to where "
                "the photo landed):")
    st.markdown(" · ".join(f"`{w}` {s:.2f}" for w, s in near))
with c2:
    st.markdown("**Where it lands in the word space** (PCA of the 50-d space; dots: mapped test images)")
    view = pipeline.pca_view(run.key, run)
    photo_xy = (result["mapped"] - view["mean"]) @ view["components"].T
    st.plotly_chart(figures.landing_figure(view["points"], view["labels"], view["stars"], photo_xy, names,
                                           run.unseen_names),
                    key="landing", width="stretch")
