"""Distractors: add decoy words to the unseen label set and watch unseen accuracy change."""

import numpy as np
import pandas as pd
import streamlit as st

from zsl_app import charts, figures, pipeline, sidebar, state, threshold
from zsl_app import words as typed_words

sidebar.page_setup("Distractors", ":material/target:")
config, data = sidebar.render()
run = sidebar.load_model(config)
held = " + ".join(run.unseen_names)

st.title("Distractors")
st.markdown(
    f"Zero-shot classification names a novel image after the nearest **unseen** word vector. With only "
    f"{held} as candidates that is easy. Add more candidate words — “distractors” such as *kitten* or *lorry* — "
    f"and the model must pick the right word among many: how much does unseen accuracy drop?"
)

suggestions = pipeline.suggested_distractors(run.key, tuple(run.unseen_names), tuple(run.class_names), 20)
words = pipeline.words()

c1, c2 = st.columns(2)
picked = c1.multiselect(
    f"Nearest GloVe neighbours of {held}", suggestions, **state.kept("distractor_pick", suggestions[:5], suggestions),
    help="The words closest (cosine) to the held-out class names in GloVe 6B 50-d, nearest first; class names "
         "themselves are left out.")
state.remember("distractor_pick", picked)
typed_text = c2.text_input("Your own words (comma-separated)", **state.kept("distractor_typed", ""),
                           placeholder="e.g. kitten, lorry, tiger")
state.remember("distractor_typed", typed_text)

found = typed_words.parse(typed_text, words, run.class_names, limit=50)
for message in found.messages():
    st.warning(message)
if found.classes:
    st.info(f"Left out {', '.join(found.classes)}: already a class of the dataset.")
typed = found.words

added = tuple(dict.fromkeys([w for w in typed + list(picked) if w not in run.class_names]))
t = threshold.current(run)
curve = pipeline.distractors(run.key, added, t, run)
n, acc, gated = curve["count"], curve["unseen"], curve["gated"]

n_unseen = int(np.isin(run.y_test, run.unseen).sum())
cols = st.columns(2) + st.columns(2)
cols[0].metric(f"Unseen accuracy, {len(run.unseen)} candidates", f"{acc[0]:.1%}",
               help=f"Test images of {held} ({n_unseen:,} images), each named after the nearest candidate word "
                    f"vector, every one assumed novel (perfect gate); candidates: only {held}.")
cols[1].metric(f"With {len(added)} distractor(s)", f"{acc[-1]:.1%}", delta=f"{(acc[-1] - acc[0]) * 100:+.1f} pts",
               help=f"The same {n_unseen:,} test images and perfect gate; candidates: {held} plus the "
                    f"{len(added)} words listed. Picking a distractor is always wrong.")
cols[2].metric("Same, through the novelty gate", f"{gated[-1]:.1%}",
               help=f"The same {n_unseen:,} test images through the hard gate at the shared threshold "
                    f"({threshold.describe_cutoff(config.novelty, t)}): an image called familiar is wrong.")
cols[3].metric("Candidates", f"{len(run.unseen) + len(added)}",
               help="Word vectors a novel image can be named after.")
charts.show(figures.distractor_figure(n, acc, gated, list(added),
                                      f"Unseen accuracy on test images of {held} as distractors join"),
            "distractor_curve", "distractors",
            pd.DataFrame({"distractors_added": n, "last_added": ["—"] + list(added), "unseen_accuracy": acc,
                          "through_the_gate": gated}))
st.caption(f"Test split of {data.name}, images of the held-out classes only ({n_unseen:,}); words added in the "
           f"order listed (typed first, then picked). {config.features} features, {config.mapping} mapping. "
           "The shared threshold is set on the Threshold tradeoff page.")
if added:
    st.markdown("**Candidates added, in order:** " + ", ".join(f"`{w}`" for w in added))
