"""Threshold tradeoff: how the novelty threshold trades seen-class accuracy for unseen-class accuracy."""

import numpy as np
import streamlit as st

from zsl_app import figures, pipeline, sidebar, threshold
from zsl_app.state import options
from zsl_core.reproduce import PAPER

sidebar.page_setup("Threshold tradeoff", ":material/tune:")
config, data = sidebar.render()
run = sidebar.load_model(config)
NOVELTY_LABELS = options("novelty")
other_name = next(n for n in NOVELTY_LABELS if n != config.novelty)
other = sidebar.load_model(config.with_(novelty=other_name))

st.title("Threshold tradeoff")
st.markdown(
    "Every test image gets a **novelty score** in word space. Above the threshold it is called *novel* and "
    "goes to the nearest **unseen** class; below it goes to the softmax over the **seen** classes (Eq. 2, "
    "hard gate). Slide the threshold and watch seen accuracy fall as unseen accuracy rises."
)

SHORT = {"gaussian": "Gaussian", "loop": "LoOP"}
SEEN_HELP = "test images of the seen classes; each is right if the full model (10-way) predicts its class"
UNSEEN_HELP = "test images of the held-out classes; each is right if the full model predicts its class"


@st.fragment
def live(run: pipeline.Run, other: pipeline.Run) -> None:
    t, _ = threshold.slider(run)
    at = run.at_threshold(t)
    n_seen, n_unseen = threshold.n_of(run, run.seen), threshold.n_of(run, run.unseen)
    st.caption(f"Cutoff ({NOVELTY_LABELS[run.config.novelty]}): {threshold.describe_cutoff(run.config.novelty, t)}. "
               f"{threshold.novel_fraction_text(run, at['novel_fraction'])}.")
    held = " + ".join(run.unseen_names)
    cols = st.columns(5)
    cols[0].metric("Called novel", f"{at['novel_fraction']:.1%}",
                   help=f"share of all {len(run.y_test):,} test images whose novelty score is above the cutoff")
    cols[1].metric("Seen accuracy", f"{at['seen']:.1%}",
                   help=f"{SEEN_HELP} ({n_seen:,} images of {', '.join(run.seen_names)}), at this threshold")
    cols[2].metric("Unseen accuracy", f"{at['unseen']:.1%}",
                   help=f"{UNSEEN_HELP} ({n_unseen:,} images of {held}), at this threshold")
    cols[3].metric("Overall accuracy", f"{at['overall']:.1%}",
                   help=f"all {len(run.y_test):,} test images, 10-way, at this threshold")
    cols[4].metric("H (harmonic mean)", f"{at['H']:.1%}",
                   help="harmonic mean of seen and unseen accuracy at this threshold (high only when both are)")
    st.caption(f"Measured on the test split ({run.dataset.name}); held out: {held}; "
               f"{run.config.features} features, {run.config.mapping} mapping.")

    paper_seen = PAPER["seen_accuracy"] if set(run.unseen_names) == {"cat", "truck"} else None
    left, right = st.columns(2)
    left.plotly_chart(
        figures.tradeoff_curves(run.sweep, f"{SHORT[run.config.novelty]} (the current detector)",
                                at, paper_seen, threshold.score_name(run.config.novelty)),
        key="curves_current", width="stretch")
    t_other = other.threshold_for_share(at["novel_fraction"])
    at_other = other.at_threshold(t_other)
    right.plotly_chart(
        figures.tradeoff_curves(other.sweep,
                                f"{SHORT[other.config.novelty]} (for comparison, same share called novel)", at_other,
                                paper_seen,
                                threshold.score_name(other.config.novelty)),
        key="curves_other", width="stretch")
    notes = ["Curves: every threshold on the test split; the dots mark the slider."]
    if paper_seen is not None:
        notes.append(f"Dashed line: the paper's seen-class accuracy with cat and truck held out "
                     f"({paper_seen:.1%}, 8-way softmax on the 8 seen classes, Coates features); compare it with "
                     f"the left end of the seen curve, where nothing is called novel.")
    st.caption(" ".join(notes))

    cm = run.confusion(t)
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(
        figures.confusion_heatmap(cm, run.class_names, run.unseen_names,
                                  f"Confusion matrix at this threshold (test split, ✱ = held out)"),
        key="confusion", width="stretch")
    correct = np.trace(cm) / max(1, cm.sum())
    c2.markdown(
        f"""
**Reading the matrix.** Row = true class, column = predicted class, each row sums to 100 %. The diagonal is
what the model gets right: {correct:.1%} of all {int(cm.sum()):,} test images at this threshold (the overall
accuracy above).

- A seen-class row leaking into the ✱ columns: seen images wrongly called novel (threshold too low).
- A ✱ row spread over seen columns: novel images that looked familiar (threshold too high).
- Between the ✱ columns: unseen images called novel but given the wrong unseen name.
"""
    )


live(run, other)
