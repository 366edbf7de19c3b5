"""Held-out pairs: which pairs of classes can be recognised zero-shot, and does similarity to a seen class help?"""


import numpy as np
import pandas as pd
import streamlit as st

from zsl_app import charts, figures, longwork, pipeline, sidebar, state
from zsl_core.evaluation import cosine_similarity_matrix, similarity_vs_accuracy
from zsl_core.reproduce import PAPER

sidebar.page_setup("Held-out pairs", ":material/grid_on:")
config, data = sidebar.render()
names = list(data.class_names)

st.title("Held-out pairs")
st.markdown(
    "Hold out two classes, train on the others, then ask: can the model tell the two held-out classes apart "
    "using only their word vectors? (**2-way zero-shot accuracy**, test images of the two classes, perfect "
    "novelty gate; chance is 50 %.) The paper suggests a pair transfers well when each held-out class has a "
    "**similar seen class** to borrow from (truck ← automobile). Whether that holds here is measured below."
)


def strength(r: float) -> str:
    a = abs(r)
    return "no" if not np.isfinite(r) else "a weak" if a < 0.3 else "a moderate" if a < 0.6 else "a strong"


key = pipeline.pairs_key(config)
if not pipeline.is_cached("pairs", key):
    n_pairs = len(names) * (len(names) - 1) // 2
    plan = pipeline.plan(config, pairs=True)
    plan["total"] -= plan.pop("fit", 0.0)  # the page fits one map per pair, not the full model
    what = f"Training {n_pairs} zero-shot maps, one per held-out pair ({config.mapping} mapping)"
    longwork.confirm(key, plan, what, alternative="The linear map computes every pair in seconds from the class "
                                                  "statistics; the 2-layer tanh net fits each pair from scratch.")
    with longwork.running(key, plan, what) as bar:
        matrix = pipeline.pairs(config, bar)
else:
    matrix = pipeline.pairs(config)

cos = cosine_similarity_matrix(pipeline.words().class_vectors(names))
rel = similarity_vs_accuracy(matrix, cos)
pairs = rel["pairs"]
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
table = pd.DataFrame({"pair": pair_labels, "accuracy_2way": rel["accuracy"],
                      "cosine_between": [cos[i, j] for i, j in pairs],
                      "nearest_seen_a": [names[a] for a, _ in rel["nearest"]],
                      "nearest_seen_b": [names[b] for _, b in rel["nearest"]],
                      "min_cosine_to_nearest_seen": rel["support"]})
# Full width: at 1,024 px two heatmaps side by side left ~11 px per cell (issue 9's projector layout).
charts.show(
    figures.pair_heatmap(matrix, names, "2-way zero-shot accuracy of each held-out pair", "accuracy",
                         zmin=0.0, zmax=1.0, colorscale="RdBu", highlight=current, clickable=True),
    "pairs_heatmap", "pairs-accuracy", table, on_select=_on_heatmap_select, selection_mode="points")
st.caption(f"Test split of {data.name}: the held-out pair's test images, each given the nearer of the two "
           f"prototypes; {config.features} features, {config.mapping} mapping trained on the other "
           f"{len(names) - 2} classes. Scale from 0 to 100 %: white = chance (50 %), red = worse than chance. "
           f"Click a cell to hold that pair out.")

below = rel["below_chance"]
if below:
    worst = ", ".join(f"{names[a]} + {names[b]} ({matrix[a, b]:.0%})" for a, b in below[:4])
    st.markdown(
        f"**Below chance: {len(below)} pair(s)**, e.g. {worst}. Worse than a coin toss means more images of each "
        f"class land nearer the *other* class's prototype than their own: the map, learnt from the other "
        f"{len(names) - 2} classes only, sends these images to the wrong side of the line between the two "
        f"prototypes (for two vehicles or two animals the seen neighbours pull both the same way). With only "
        f"two candidates, a map that is systematically wrong scores below 50 %.")

with st.expander("Word-vector similarity of every pair", expanded=False):
    charts.show(
        figures.pair_heatmap(cos, names, "Cosine similarity of the two classes' word vectors", "cosine",
                             zmin=float(np.min(cos)), zmax=float(np.max(cos[~np.eye(len(names), dtype=bool)])),
                             colorscale="Oranges", highlight=current),
        "pairs_cosine", "pairs-cosine", pd.DataFrame(cos, index=names, columns=names).reset_index())
    st.caption("GloVe 6B 50-d. High = the two held-out words are close to each other, so the pair is hard to "
               "tell apart in word space.")

c1, c2 = st.columns([3, 2])
highlight = pairs.index(current) if current in pairs else None
with c1:
    charts.show(figures.similarity_scatter(rel["support"], rel["accuracy"], pair_labels, highlight,
                                           rel["slope"], rel["intercept"], rel["pearson_r"]),
                "pairs_scatter", "pairs-similarity", table)
    r, rho = rel["pearson_r"], rel["spearman_r"]
    st.markdown(
        f"**What the scatter shows.** Over the {len(pairs)} pairs the correlation between a pair's similarity to "
        f"its nearest seen classes and its accuracy is r = {r:.2f} (Spearman {rho:.2f}): {strength(r)} "
        f"{'positive' if r > 0 else 'negative'} relation"
        + (", so here similarity to a seen class explains little of which pairs transfer well."
           if abs(r) < 0.3 else "." if np.isfinite(r) else "."))
    st.caption("One dot per held-out pair. x: for each of the two held-out classes, the cosine to its nearest "
               "*seen* class; the smaller of the two. y: the pair's 2-way zero-shot accuracy (test split).")
with c2:
    st.markdown("**Hold out a pair**")
    default_pick = pair_labels[highlight] if highlight is not None else pair_labels[0]
    pick = st.selectbox("Pair", pair_labels, **state.kept("pair_pick", default_pick, pair_labels))
    state.remember("pair_pick", pick)
    k = pair_labels.index(pick)
    i, j = pairs[k]
    a, b = names[i], names[j]
    st.button(f"Hold out {a} + {b}", key="hold_out_pair", on_click=_hold_out, args=(a, b),
              disabled=(current == (i, j)), type="primary")
    na, nb = rel["nearest"][k]
    st.markdown(
        f"""
| | nearest seen class | cosine |
| --- | --- | --- |
| **{a}** | {names[na]} | {cos[i, na]:.2f} |
| **{b}** | {names[nb]} | {cos[j, nb]:.2f} |

- 2-way zero-shot accuracy: **{matrix[i, j]:.1%}** (test images of {a} and {b}; the same figure as *Held-out
  only* on Home when this pair is held out)
- cosine between {a} and {b}: {cos[i, j]:.2f}
"""
    )
    paper = PAPER["zero_shot_pair_accuracy"].get("-".join(sorted((a, b))))
    if paper is not None and {a, b} == {"cat", "truck"}:
        st.caption(f"The paper reports {paper:.0%} for cat vs truck (2-way, Coates features).")
    if current is not None:
        st.caption(f"Currently held out: {' + '.join(config.unseen)} (every other page uses it).")
