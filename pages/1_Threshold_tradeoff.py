"""Threshold tradeoff: how the novelty threshold trades seen-class accuracy for unseen-class accuracy."""

import pandas as pd
import streamlit as st

from zsl_app import charts, figures, pipeline, sidebar, state, threshold
from zsl_app.state import options
from zsl_core.experiment import summary
from zsl_core.progress import format_seconds
from zsl_core.reproduce import PAPER

sidebar.page_setup("Threshold tradeoff", ":material/tune:")
config, data = sidebar.render()
run = sidebar.load_model(config)
NOVELTY_LABELS = options("novelty")
# Every detector is compared on one chart, read from the learned gate's run (it carries them all as components);
# not in presentation mode, which keeps the page to the tradeoff and the confusion matrix. Training the learned
# gate costs tens of seconds (its pseudo-unseen splits), so unless it is the current detector or already trained
# for this setup, the comparison waits for a click.
LEARNED = config.with_(novelty="learned")
COMPARE_KEY = f"_compare_detectors.{pipeline.run_key(LEARNED)}"

st.title("Threshold tradeoff")
st.markdown(
    "Every test image gets a **novelty score**. Above the threshold it is called *novel* and "
    "goes to the nearest **unseen** class; below it goes to the softmax over the **seen** classes (Eq. 2, "
    "hard gate). Slide the threshold and watch seen accuracy fall as unseen accuracy rises."
)

SEEN_HELP = "test images of the seen classes; each is right if the full model predicts its class"
UNSEEN_HELP = "test images of the held-out classes; each is right if the full model predicts its class"


def sweep_table(run: pipeline.Run) -> pd.DataFrame:
    sweep = run.sweep
    return pd.DataFrame({"threshold": sweep["threshold"], "novel_fraction": sweep["novel_fraction"],
                         "seen": sweep["seen"], "unseen": sweep["unseen"], "overall": sweep["overall"],
                         "H": sweep["H"]})


def detectors_table(table: dict) -> pd.DataFrame:
    return pd.DataFrame([{
        "detector": row["label"], "paper's": "yes" if row["paper"] else "",
        "AUROC": round(row["auroc"], 3), "AUSUC": round(row["ausuc"], 3),
        "best overall (any threshold)": round(row["best_overall"], 3), "best H (any threshold)": round(row["best_H"], 3),
        "called novel": round(row["at_threshold"]["novel_fraction"], 3),
        "overall": round(row["at_threshold"]["overall"], 3), "H": round(row["at_threshold"]["H"], 3),
        "vs call nothing unseen": round(row["gain"], 4),
        "seen-only validation": None if row["validation"] != row["validation"] else round(row["validation"], 3),
    } for row in table.values()])


def detectors_compared(compared: pipeline.Run, current: str) -> None:
    """One chart of every detector's overall accuracy, each marked at its threshold chosen without unseen
    images, and the table behind it."""
    table = pipeline.detector_table(compared.key, compared)
    nothing = next(iter(table.values()))["call_nothing_unseen"]
    fig = figures.detector_curves(table, current, nothing, "Every novelty detector: overall accuracy (test split)")
    charts.show(fig, "curves_detectors", "detectors", detectors_table(table))
    best = max(table, key=lambda n: table[n]["gain"])
    st.caption(
        "Each line: overall accuracy of the full model as one detector's threshold sweeps; dashed lines are the "
        "paper's detectors; the dot is where the detector's own threshold lands, chosen on seen classes held "
        "out in turn (no unseen image is read). AUROC: how well the score ranks held-out images above seen "
        f"ones. Here {table[best]['label']} gains most at its own threshold "
        f"({table[best]['gain'] * 100:+.1f} points against calling nothing unseen).")
    if not state.presenting():
        with st.expander("The numbers behind the chart"):
            st.dataframe(detectors_table(table), hide_index=True, key="detectors_table")


def confusion_table(cm, names) -> pd.DataFrame:
    return pd.DataFrame([(names[i], names[j], int(cm[i, j])) for i in range(len(names)) for j in range(len(names))],
                        columns=["true", "predicted", "images"])


@st.fragment
def live(run: pipeline.Run) -> None:
    t, _ = threshold.slider(run, reset=not state.presenting())
    h = summary(run, t)
    at = h["at_threshold"]
    n_seen, n_unseen, n = h["n_seen"], h["n_unseen"], h["n_test"]
    held = " + ".join(run.unseen_names)
    C = len(run.class_names)
    st.caption(f"Cutoff ({NOVELTY_LABELS[run.config.novelty]}): {threshold.describe_cutoff(run.config.novelty, t)}. "
               f"{threshold.novel_fraction_text(run, at['novel_fraction'])}.")
    row1 = st.columns(3)
    row1[0].metric("Called novel", f"{at['novel_fraction']:.1%}",
                   help=f"share of all {n:,} test images whose novelty score is above the cutoff "
                        f"({n_unseen / max(1, n):.1%} of them are held-out images)")
    row1[1].metric("Seen accuracy", f"{at['seen']:.1%}",
                   help=f"{SEEN_HELP} ({n_seen:,} images of {', '.join(run.seen_names)}), at this threshold")
    row1[2].metric("Unseen accuracy", f"{at['unseen']:.1%}",
                   help=f"{UNSEEN_HELP} ({n_unseen:,} images of {held}), at this threshold")
    row2 = st.columns(3)
    row2[0].metric("Overall accuracy", f"{at['overall']:.1%}",
                   delta=f"{h['gate_gain'] * 100:+.1f} pts",
                   help=f"all {n:,} test images, {C}-way, at this threshold; below it: points gained or lost "
                        f"against calling nothing unseen")
    row2[1].metric("Call nothing unseen", f"{h['call_nothing_unseen']:.1%}",
                   help=f"test images: {h['describe']['call_nothing_unseen']} What any threshold must beat.")
    row2[2].metric("H (harmonic mean)", f"{at['H']:.1%}",
                   help="harmonic mean of seen and unseen accuracy at this threshold (test images; high only "
                        "when both are)")
    verdict = "buys" if h["gate_gain"] > 0 else "costs"
    st.info(f"**At this setting the gate {verdict} {abs(h['gate_gain']) * 100:.1f} points** of overall accuracy: "
            f"it calls {at['novel_fraction']:.1%} of the test images novel where {n_unseen / max(1, n):.1%} are, "
            f"and gets {at['overall']:.1%} right, against {h['call_nothing_unseen']:.1%} for calling nothing "
            f"unseen (the dashed line on the chart)." + (
                "" if h["gate_gain"] > 0 else " Seen images wrongly called novel outweigh the held-out images it "
                                              "catches: move the slider left."),
            icon=":material/balance:")

    paper_seen = PAPER["seen_accuracy"] if set(run.unseen_names) == {"cat", "truck"} else None
    current = figures.tradeoff_curves(run.sweep, f"{NOVELTY_LABELS[run.config.novelty]} (current)", at,
                                      paper_seen, threshold.score_name(run.config.novelty),
                                      nothing=h["call_nothing_unseen"])
    charts.show(current, "curves_current", "tradeoff", lambda: sweep_table(run))
    notes = ["Curves: every threshold on the test split; the dots mark the slider; dashed: calling nothing unseen."]
    if paper_seen is not None:
        notes.append(f"Grey dotted line: the paper's seen-class accuracy with cat and truck held out "
                     f"({paper_seen:.1%}, 8-way softmax on the 8 seen classes, Coates features); compare it with "
                     f"the left end of the seen curve, where nothing is called novel.")
    st.caption(" ".join(notes))

    cm = run.confusion(t)
    charts.show(figures.confusion_heatmap(cm, run.class_names, run.unseen_names,
                                          "Confusion matrix at this threshold (test split, % of each row, ✱ = held out)"),
                "confusion", "confusion", lambda: confusion_table(cm, run.class_names))
    st.markdown(
        f"""
**Reading the matrix.** Row = true class, column = predicted class, each row sums to 100 (the numbers are % of
the row; hover for the counts). The diagonal is what the model gets right: {at['overall']:.1%} of all
{int(cm.sum()):,} test images at this threshold (the overall accuracy above).

- A seen-class row leaking into the ✱ columns: seen images wrongly called novel (threshold too low).
- A ✱ row spread over seen columns: novel images that looked familiar (threshold too high).
- Between the ✱ columns: unseen images called novel but given the wrong unseen name.
"""
    )


live(run)
if not state.presenting():
    st.subheader("Detectors compared")
    if config.novelty == "learned":
        detectors_compared(run, run.config.novelty)
    elif pipeline.is_cached("run", pipeline.run_key(LEARNED)) or st.session_state.get(COMPARE_KEY):
        detectors_compared(sidebar.load_model(LEARNED), run.config.novelty)
    else:
        seconds = pipeline.plan(LEARNED)["fit"]
        st.caption(f"Every novelty detector side by side on this held-out set — the paper's two, six others and "
                   f"the learned gate that combines them — read from one model of the learned gate, which trains "
                   f"its combination on seen classes held out in turn (about {format_seconds(seconds)} here).")
        st.button("Compare every detector", key="compare_detectors", icon=":material/stacked_line_chart:",
                  on_click=lambda: st.session_state.__setitem__(COMPARE_KEY, True))
