"""Held-out pairs: which pairs of classes can be recognised zero-shot, and why."""

import itertools

import numpy as np
import streamlit as st

from zsl_app import figures, pipeline, sidebar, state
from zsl_core.evaluation import cosine_similarity_matrix, nearest_seen_class
from zsl_app.progress import StreamlitProgress
from zsl_core.reproduce import PAPER

sidebar.page_setup("Held-out pairs", ":material/grid_on:")
config, data = sidebar.render()
names = list(data.class_names)

st.title("Held-out pairs")
st.markdown(
    "Hold out two classes, train on the other eight, then ask: can the model tell the two held-out classes apart "
    "using only their word vectors? (**2-way zero-shot accuracy**, test images of the two classes, perfect "
    "novelty gate.) The paper's point: a pair transfers well when each held-out class has a **similar seen "
    "class** to borrow from (truck ← automobile), and badly when the two are close to each other but far from "
    "everything seen."
)

key = pipeline.pairs_key(config)
if not pipeline.is_cached("pairs", key):
    n_pairs = len(names) * (len(names) - 1) // 2
    bar = StreamlitProgress()
    with st.spinner(f"Training {n_pairs} zero-shot models, one per held-out pair (once; then cached)…"):
        matrix = pipeline.pairs(config, bar)
    bar.clear()
else:
    matrix = pipeline.pairs(config)

cos = cosine_similarity_matrix(pipeline.words().class_vectors(names))
pairs = list(itertools.combinations(range(len(names)), 2))
current = tuple(sorted(names.index(u) for u in config.unseen)) if len(config.unseen) == 2 else None


def _hold_out(a: str, b: str) -> None:
    state.set_kept("unseen", sorted([a, b], key=names.index))
    state.set_kept("pair_pick", f"{a} + {b}" if names.index(a) < names.index(b) else f"{b} + {a}")


def _on_heatmap_select() -> None:
    for point in (st.session_state.get("pairs_heatmap") or {}).get("selection", {}).get("points", []):
        cell = point.get("customdata")
        if isinstance(cell, (list, tuple)) and len(cell) == 2 and cell[0] != cell[1]:
            _hold_out(names[int(cell[0])], names[int(cell[1])])
            return


pair_labels = [f"{names[i]} + {names[j]}" for i, j in pairs]
left, right = st.columns(2)
with left:
    st.plotly_chart(
        figures.pair_heatmap(matrix, names, "2-way zero-shot accuracy of each held-out pair", "accuracy",
                             zmin=0.5, zmax=1.0, highlight=current, clickable=True),
        key="pairs_heatmap", on_select=_on_heatmap_select, selection_mode="points", width="stretch")
    st.caption(f"Test split of {data.name}: the held-out pair's test images, each given the nearer of the two "
               f"word vectors; {config.features} features, {config.mapping} mapping trained on the other "
               f"{len(names) - 2} classes. Chance = 50 %. Click a cell to hold that pair out.")
with right:
    st.plotly_chart(
        figures.pair_heatmap(cos, names, "Cosine similarity of the two classes' word vectors", "cosine",
                             zmin=float(np.min(cos)), zmax=float(np.max(cos[~np.eye(len(names), dtype=bool)])),
                             colorscale="Oranges", highlight=current),
        key="pairs_cosine", width="stretch")
    st.caption("GloVe 6B 50-d. High = the two held-out words are close to each other, so the pair is hard to "
               "tell apart in word space.")

# Each pair: how close is the *less* well-covered class of the pair to its nearest seen class?
support = np.array([min(nearest_seen_class(cos, i, {i, j})[1], nearest_seen_class(cos, j, {i, j})[1])
                    for i, j in pairs])
accuracy = np.array([matrix[i, j] for i, j in pairs])
highlight = pairs.index(current) if current in pairs else None

c1, c2 = st.columns([3, 2])
with c1:
    st.plotly_chart(figures.similarity_scatter(support, accuracy, pair_labels, highlight), key="pairs_scatter",
                    width="stretch")
    st.caption("One dot per held-out pair (all 45). x: for each of the two held-out classes, the cosine to its "
               "nearest *seen* class; the smaller of the two. y: the pair's 2-way zero-shot accuracy (test split).")
with c2:
    st.markdown("**Hold out a pair**")
    default_pick = pair_labels[highlight] if highlight is not None else pair_labels[0]
    pick = st.selectbox("Pair", pair_labels, **state.kept("pair_pick", default_pick, pair_labels))
    state.remember("pair_pick", pick)
    i, j = pairs[pair_labels.index(pick)]
    a, b = names[i], names[j]
    st.button(f"Hold out {a} + {b}", key="hold_out_pair", on_click=_hold_out, args=(a, b),
              disabled=(current == (i, j)), type="primary")
    na, ca = nearest_seen_class(cos, i, {i, j})
    nb, cb = nearest_seen_class(cos, j, {i, j})
    st.markdown(
        f"""
| | nearest seen class | cosine |
| --- | --- | --- |
| **{a}** | {names[na]} | {ca:.2f} |
| **{b}** | {names[nb]} | {cb:.2f} |

- 2-way zero-shot accuracy: **{matrix[i, j]:.1%}** (test images of {a} and {b})
- cosine between {a} and {b}: {cos[i, j]:.2f}
"""
    )
    paper = PAPER["zero_shot_pair_accuracy"].get("-".join(sorted((a, b))))
    if paper is not None and {a, b} == {"cat", "truck"}:
        st.caption(f"The paper reports {paper:.0%} for cat vs truck (2-way, Coates features).")
    if current is not None:
        st.caption(f"Currently held out: {' + '.join(config.unseen)} (every other page uses it).")
