"""Semantic space: where test images land in word space, next to every class's word vector."""

import numpy as np
import streamlit as st

from zsl_app import figures, images, pipeline, sidebar, state, threshold
from zsl_app.progress import StreamlitProgress

sidebar.page_setup("Semantic space", ":material/scatter_plot:")
config, data = sidebar.render()
run = sidebar.load_model(config)

st.title("Semantic space")
st.markdown(
    "Each dot is a test image after the mapping θ into the 50-d word space, squashed to 2-D; each ★ is a "
    "class's word vector. Images of **seen** classes (●) were trained to land on their star; images of "
    "**held-out** classes (✕) were never seen — zero-shot works when they still land near their own star."
)

METHODS = {"tsne": "t-SNE", "umap": "UMAP"}
COLOUR_BY = {"true": "true class", "predicted": "predicted class", "correct": "correct / wrong"}

with st.expander("Projection settings", expanded=True):
    c1, c2, c3 = st.columns(3)
    method = c1.radio("Method", list(METHODS), format_func=METHODS.get, horizontal=True,
                      **state.kept("proj_method", "tsne"))
    state.remember("proj_method", method)
    n_test = len(run.y_test)
    max_n = min(n_test, 5000)
    if state.get_kept("proj_n", 0) > max_n:
        state.set_kept("proj_n", max_n)
    if max_n > 100:
        n = c2.slider("Test images shown", min_value=100, max_value=max_n, step=100 if max_n >= 200 else 1,
                      **state.kept("proj_n", min(1000, max_n)),
                      help="A fixed random sample of the test split (more points = slower projection).")
        state.remember("proj_n", n)
    else:
        n = max_n
        c2.caption(f"All {n} test images are shown.")
    colour_by = c3.radio("Colour by", list(COLOUR_BY), format_func=COLOUR_BY.get, horizontal=True,
                         **state.kept("colour_by", "true"))
    state.remember("colour_by", colour_by)
    if method == "tsne":
        perplexity = c1.slider("Perplexity", 5, 50, **state.kept("tsne_perplexity", 30),
                               help="Roughly how many neighbours each point keeps close.")
        state.remember("tsne_perplexity", perplexity)
        params = {"perplexity": float(perplexity)}
    else:
        neighbours = c1.slider("Neighbours", 5, 100, **state.kept("umap_neighbors", 15),
                               help="Larger = more global structure.")
        state.remember("umap_neighbors", neighbours)
        min_dist = c2.slider("Minimum distance", 0.0, 0.99, step=0.01, **state.kept("umap_min_dist", 0.1),
                             help="How tightly UMAP packs points together.")
        state.remember("umap_min_dist", min_dist)
        params = {"n_neighbors": int(neighbours), "min_dist": float(min_dist)}

key = pipeline.projection_key(run, method, params, n)
if not pipeline.is_cached("projection", key):
    bar = StreamlitProgress()
    with st.spinner(f"Computing the {METHODS[method]} of {n:,} mapped test images and "
                    f"{len(run.class_names)} word vectors…"):
        proj = pipeline.projection(run, method, params, n, bar)
    bar.clear()
else:
    proj = pipeline.projection(run, method, params, n)

t = threshold.current(run)
rows = proj["rows"]
pred = run.predictions(t)[rows]
true = run.y_test[rows]
novelty = np.asarray(run.scores.novelty)[rows]
fig = figures.semantic_scatter(
    proj["xy"], proj["stars"], run.class_names, run.unseen_names, true, pred, novelty, t, colour_by,
    title=f"{METHODS[method]}: {len(rows):,} mapped test images (● seen, ✕ held out), ★ word vectors")

left, right = st.columns([3, 1])
with left:
    event = st.plotly_chart(fig, key="semantic_plot", on_select="rerun", selection_mode=("points", "box", "lasso"),
                            width="stretch")
    st.caption(
        f"Predicted classes use the shared novelty threshold ({threshold.describe_cutoff(config.novelty, t)}; "
        f"set it on the Threshold tradeoff page). Test split of {data.name}. Hover for the classes and the "
        "novelty score, click a dot to see its image, drag a box or lasso to see a group.")


chosen = [int(rows[i]) for i in figures.selected_points(event)]
mapped = np.asarray(run.scores.mapped)
with right:
    st.markdown("**Selected image**")
    if not chosen:
        st.info("Click a dot to see the image behind it, with its classes and novelty score. Box or lasso "
                "selection shows a whole group below.")
    else:
        r = chosen[0]
        st.image(images.enlarge(run.dataset.test_images[r], 192), width=192,
                 caption=f"test image #{r} (32×32, enlarged)")
        p = int(run.predictions(t)[r])
        y = int(run.y_test[r])
        st.markdown(
            f"- true class: **{run.class_names[y]}**{' (held out)' if y in run.unseen else ''}\n"
            f"- predicted: **{run.class_names[p]}** {'✓' if p == y else '✗'}\n"
            f"- novelty score: {run.scores.novelty[r]:.4g} ({'novel' if run.scores.novelty[r] > t else 'seen'} "
            f"at cutoff {t:.4g})")
        near = pipeline.nearest_words(tuple(float(v) for v in mapped[r]), 8)
        st.caption("Nearest GloVe words to where it landed: " + ", ".join(w for w, _ in near))

if len(chosen) > 1:
    st.subheader(f"{len(chosen):,} selected images")
    mean = mapped[chosen].mean(axis=0)
    near = pipeline.nearest_words(tuple(float(v) for v in mean), 12)
    st.markdown("**Nearest words (whole GloVe vocabulary, cosine) to the mean of their mapped vectors:** " +
                ", ".join(f"{w} ({s:.2f})" for w, s in near))
    true_names = [run.class_names[i] for i in run.y_test[chosen]]
    counts = {c: true_names.count(c) for c in dict.fromkeys(true_names)}
    st.caption("True classes in the selection: " + ", ".join(f"{c} × {k}" for c, k in counts.items()))
    shown = chosen[:60]
    preds = run.predictions(t)
    st.image([images.enlarge(run.dataset.test_images[r], 96) for r in shown], width=96,
             caption=[f"{run.class_names[run.y_test[r]]} → {run.class_names[preds[r]]}" for r in shown])
    if len(chosen) > len(shown):
        st.caption(f"Showing the first {len(shown)} of {len(chosen):,}.")
