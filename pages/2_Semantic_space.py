"""Semantic space: where test images land in word space, next to every class's word vector.

Like the Embedding Projector: search a class or any word, click a dot to see its image (the panel keeps it
while you select groups), box or lasso a group to see a grid balanced across its classes. A new projection
shows its real progress (iterations) while the last picture stays on screen.
"""

import numpy as np
import pandas as pd
import streamlit as st

from zsl_app import charts, figures, images, longwork, pipeline, sidebar, state, threshold
from zsl_app import words as typed
from zsl_core.projection import balanced_sample, estimate_projection_seconds, nearest_points

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
GRID = 60  # images in a selection grid
FOUND = 25  # images ringed for a searched word


def settings(n_test: int) -> tuple[str, dict, int, str]:
    """The projection's settings (an expander; in presentation mode the kept values, no controls)."""
    max_n = min(n_test, 5000)
    if state.get_kept("proj_n", 0) > max_n:
        state.set_kept("proj_n", max_n)
    if state.presenting():
        method = state.get_kept("proj_method", "tsne")
        n = min(int(state.get_kept("proj_n", min(1000, max_n))), max_n)
        colour_by = state.get_kept("colour_by", "true")
        params = ({"perplexity": float(state.get_kept("tsne_perplexity", 30))} if method == "tsne" else
                  {"n_neighbors": int(state.get_kept("umap_neighbors", 15)),
                   "min_dist": float(state.get_kept("umap_min_dist", 0.1))})
        return method, params, n, colour_by
    with st.expander("Projection settings", expanded=True):
        c1, c2, c3 = st.columns(3)
        method = c1.radio("Method", list(METHODS), format_func=METHODS.get, horizontal=True,
                          **state.kept("proj_method", "tsne"))
        state.remember("proj_method", method)
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
    return method, params, n, colour_by


def search(run: pipeline.Run, rows: np.ndarray) -> tuple[str | None, np.ndarray | None, str]:
    """The search box: a class name fades the other classes; any other word rings the images nearest to it."""
    text = st.text_input("Find a class or any word", **state.kept("semantic_search", ""),
                         placeholder="e.g. cat, kitten, lorry, ocean",
                         help="A class name highlights its images and star; any other word rings the test images "
                              f"whose mapped vectors lie nearest to its word vector (the {FOUND} nearest shown).")
    state.remember("semantic_search", text)
    query = text.strip().lower()
    if not query:
        return None, None, ""
    if query in run.class_names:
        return query, None, ""
    found = typed.parse(query, pipeline.words(), run.class_names, limit=1)
    for message in found.messages():
        st.warning(message, icon=":material/search_off:")
    if not found.words:
        return None, None, ""
    vector = pipeline.words().class_vectors(found.words)[0]
    near = nearest_points(np.asarray(run.scores.mapped)[rows], vector, FOUND)
    return None, near, found.words[0]


def projection(run: pipeline.Run, method: str, params: dict, n: int):
    """The projection (cached), with a plan, real progress, and the last picture kept on screen meanwhile
    (and after a cancel)."""
    key = pipeline.projection_key(run, method, params, n)
    if pipeline.is_cached("projection", key):
        return pipeline.projection(run, method, params, n)
    seconds = estimate_projection_seconds(method, n + len(run.class_names))
    plan = {"projection": seconds, "total": seconds}
    what = f"The {METHODS[method]} of {n:,} mapped test images and {len(run.class_names)} word vectors"
    top = st.container()
    holder = st.empty()
    last = st.session_state.get("_semantic_last")
    if last is not None:
        with holder.container():
            st.caption(f"The last picture ({last['what']}) stays until the new one is ready.")
            st.plotly_chart(last["figure"], key="semantic_previous", width="stretch")
    longwork.confirm(key, plan, what, alternative="Fewer test images make it quicker.", container=top)
    with longwork.running(key, plan, what, container=top) as bar:
        proj = pipeline.projection(run, method, params, n, bar)
    holder.empty()
    return proj


method, params, n, colour_by = settings(len(run.y_test))
t = threshold.current(run)
proj = projection(run, method, params, n)
rows = proj["rows"]
focus, found, word = search(run, rows)
preds = run.predictions(t)
pred, true = preds[rows], run.y_test[rows]
novelty = np.asarray(run.scores.novelty)[rows]
what = f"{METHODS[method]}, {len(rows):,} images"
fig = figures.semantic_scatter(
    proj["xy"], proj["stars"], run.class_names, run.unseen_names, true, pred, novelty, t, colour_by,
    title=f"{METHODS[method]} of {len(rows):,} mapped test images and the word vectors (★)",
    highlight=found, highlight_label=f"nearest to “{word}”" if word else "", focus_class=focus)
st.session_state["_semantic_last"] = {"figure": fig, "what": what}
table = pd.DataFrame({"test_row": rows, "x": proj["xy"][:, 0], "y": proj["xy"][:, 1],
                      "true": [run.class_names[i] for i in true], "predicted": [run.class_names[i] for i in pred],
                      "novelty_score": novelty})

left, right = st.columns([3, 1])
with left:
    event = charts.show(fig, "semantic_plot", f"semantic-{method}", table, on_select="rerun",
                        selection_mode=("points", "box", "lasso"))
    st.caption(
        f"Predicted classes use the shared novelty threshold ({threshold.describe_cutoff(config.novelty, t)}; "
        f"set it on the Threshold tradeoff page). Test split of {data.name}. Hover for the classes and the "
        "novelty score, click a dot to see its image, drag a box or lasso (mode bar) to see a group.")
    if found is not None:
        counts = pd.Series([run.class_names[i] for i in true[found]]).value_counts()
        st.caption(f"Ringed: the {len(found)} test images that landed nearest “{word}”: " +
                   ", ".join(f"{c} × {k}" for c, k in counts.items()) + ".")

chosen, group = figures.read_selection(event)
chosen = [int(rows[i]) for i in chosen if 0 <= i < len(rows)]
if chosen and not group:  # a click: the panel shows this image until the next click
    st.session_state["_semantic_clicked"] = (run.key, chosen[0])
clicked = st.session_state.get("_semantic_clicked")
clicked = clicked[1] if clicked and clicked[0] == run.key else None
mapped = np.asarray(run.scores.mapped)
with right:
    st.markdown("**Selected image**")
    if clicked is None:
        st.info("Click a dot to see the image behind it, its classes and whether it is called novel. Box or lasso "
                "selection shows a whole group below.")
    else:
        r = clicked
        st.image(images.enlarge(run.dataset.test_images[r], 192), width=192,
                 caption=f"test image #{r} (32×32, enlarged)")
        p, y = int(preds[r]), int(run.y_test[r])
        st.markdown(
            f"- true class: **{run.class_names[y]}**{' (held out)' if y in run.unseen else ''}\n"
            f"- predicted: **{run.class_names[p]}** {'✓' if p == y else '✗'}\n"
            f"- {'called novel' if run.scores.novelty[r] > t else 'called familiar'} at the shared threshold")
        near = pipeline.nearest_words(tuple(float(v) for v in mapped[r]), 8)
        st.caption("Nearest GloVe words to where it landed: " + ", ".join(w for w, _ in near))

if group and chosen:
    st.subheader(f"{len(chosen):,} selected images")
    mean = mapped[chosen].mean(axis=0)
    near = pipeline.nearest_words(tuple(float(v) for v in mean), 12)
    st.markdown("**Nearest words (whole GloVe vocabulary, cosine) to the mean of their mapped vectors:** " +
                ", ".join(f"{w} ({s:.2f})" for w, s in near))
    labels = run.y_test[chosen]
    counts = pd.Series([run.class_names[i] for i in labels]).value_counts()
    st.caption("True classes in the selection: " + ", ".join(f"{c} × {k}" for c, k in counts.items()))
    shown = [chosen[i] for i in balanced_sample(labels, GRID)]
    st.image([images.enlarge(run.dataset.test_images[r], 96) for r in shown], width=96,
             caption=[f"{run.class_names[run.y_test[r]]} → {run.class_names[preds[r]]}" for r in shown])
    if len(chosen) > len(shown):
        st.caption(f"Showing {len(shown)} of {len(chosen):,}, spread evenly over the classes in the selection.")
