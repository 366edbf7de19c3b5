"""ZSL Explorer: an interactive explorer of "Zero-Shot Learning Through Cross-Modal Transfer" (NIPS 2013).

Start it with ``streamlit run app.py``. This file is the router (``st.navigation``) and the Home page; the other
pages live in ``pages/`` and each draws the shared sidebar itself, so each also runs on its own.
"""

from pathlib import Path

import streamlit as st

from zsl_app import sidebar
from zsl_core.experiment import summary
from zsl_core.reproduce import PAPER

FIGURE_1 = Path(__file__).resolve().parent / "assets" / "figure1.svg"


def home() -> None:
    sidebar.page_setup("Home", ":material/home:")
    config, data = sidebar.render()
    st.title("ZSL Explorer")
    st.markdown(
        "**Can a model recognise a cat without ever having seen one?** Socher et al. (NIPS 2013) say yes, if "
        "it knows the *word* “cat”. Images are mapped into a space of word vectors learned from text. An image "
        "that lands near a seen class is classified as usual; one that lands *off* every seen class's manifold "
        "is declared novel and named after the nearest word vector of a class it has never seen."
    )
    st.image(str(FIGURE_1), width="stretch",
             caption="Our drawing of the paper's Figure 1: map the image into word space, check whether it lies on "
                     "a seen class's manifold, then use the seen-class softmax or the nearest unseen word vector.")

    run = sidebar.load_model(config)
    h = summary(run)
    st.subheader("The current model")
    st.caption(f"{config.describe()} · dataset {data.name} · trained in {run.timings.get('fit_s', 0):.1f} s")
    headline(run, h)

    st.subheader("Explore")
    columns = st.columns(2)
    for i, page in enumerate(PAGES[1:]):
        with columns[i % 2]:
            st.page_link(page, label=page.title, icon=page.icon)
            st.caption(WHAT_EACH_PAGE_SHOWS[page.title])


def headline(run, h: dict) -> None:
    """The model's figures, each saying what it measures, and the honest comparison: the gated full model
    beside calling nothing unseen, with one sentence on what the gate buys or costs (``experiment.summary``)."""
    held = " + ".join(run.unseen_names)
    n_s, n_u, n = len(run.seen), len(run.unseen), len(run.class_names)
    cat_truck = set(run.unseen_names) == {"cat", "truck"}
    d = h["describe"]
    at = h["at_threshold"]
    paper_note = f" The paper reports {PAPER['seen_accuracy']:.1%} with cat + truck held out." if cat_truck else ""
    pair_note = (f" The paper reports {PAPER['zero_shot_pair_accuracy']['cat-truck']:.0%} for cat vs truck."
                 if cat_truck else "")
    top = st.columns(3)
    top[0].metric(f"Seen classes only ({n_s}-way)", f"{h['seen_softmax']:.1%}",
                  help=f"Test images: {d['seen_softmax']}{paper_note}")
    if h["zero_shot"] is not None:
        top[1].metric(f"Held-out only ({n_u}-way)", f"{h['zero_shot']:.1%}",
                      help=f"Test images: {d['zero_shot']} No image of these classes was used in training."
                           f"{pair_note}")
    else:
        top[1].markdown(f"**Held-out only**  \n{d['zero_shot']}")
    top[2].metric("Call nothing unseen", f"{h['call_nothing_unseen']:.1%}",
                  help=f"{n}-way. Test images: {d['call_nothing_unseen']} What any novelty gate must beat.")
    bottom = st.columns(3)
    bottom[0].metric("Full model, gated", f"{at['overall']:.1%}",
                     delta=f"{h['gate_gain'] * 100:+.1f} pts",
                     help=f"{n}-way. Test images: {d['at_threshold']} Below it: points gained or lost against "
                          f"calling nothing unseen.")
    bottom[1].metric("Seen, full model", f"{at['seen']:.1%}",
                     help=f"Test images of the {n_s} seen classes ({h['n_seen']:,}) through the full model at the "
                          f"model's own threshold: some are wrongly called novel.")
    bottom[2].metric("Held-out, full model", f"{at['unseen']:.1%}",
                     help=f"Test images of {held} ({h['n_unseen']:,}) through the full model at the model's own "
                          f"threshold: right only if called novel and then named correctly.")
    gain = h["gate_gain"]
    verdict = "buys" if gain > 0 else "costs"
    share = h["n_unseen"] / max(1, h["n_test"])
    st.info(f"**What the novelty gate {verdict} here.** At the model's own threshold it calls "
            f"{at['novel_fraction']:.1%} of the test images novel, where {share:.1%} really are, and the full "
            f"model gets {at['overall']:.1%} right; calling nothing unseen (every image to the seen classes) "
            f"gets {h['call_nothing_unseen']:.1%}. So the gate {verdict} {abs(gain) * 100:.1f} points of overall "
            f"accuracy. Move the threshold on the *Threshold tradeoff* page to see where it would pay.",
            icon=":material/balance:")
    st.caption(f"All figures on the test split of {run.dataset.name}. Held out: {held}. The threshold (chosen on "
               f"seen-class validation images, never on test images) is the model's own.")


WHAT_EACH_PAGE_SHOWS = {
    "Threshold tradeoff": "seen vs unseen accuracy as the novelty threshold moves",
    "Semantic space": "t-SNE / UMAP of the mapped images and the class word vectors",
    "Classify a photo": "upload a photo and follow it through the model",
    "Held-out pairs": "which pairs of classes transfer well, and why",
    "Distractors": "add decoy words to the unseen candidates",
}


PAGES = [
    st.Page(home, title="Home", icon=":material/home:", default=True),
    st.Page("pages/1_Threshold_tradeoff.py", title="Threshold tradeoff", icon=":material/tune:",
            url_path="threshold"),
    st.Page("pages/2_Semantic_space.py", title="Semantic space", icon=":material/scatter_plot:",
            url_path="semantic-space"),
    st.Page("pages/3_Classify_a_photo.py", title="Classify a photo", icon=":material/photo_camera:",
            url_path="classify"),
    st.Page("pages/4_Held-out_pairs.py", title="Held-out pairs", icon=":material/grid_on:", url_path="pairs"),
    st.Page("pages/5_Distractors.py", title="Distractors", icon=":material/target:", url_path="distractors"),
]

st.navigation(PAGES).run()
