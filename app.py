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
    held = " + ".join(run.unseen_names)
    n_s, n_u = len(run.seen), len(run.unseen)
    st.subheader("The current model")
    st.caption(f"{config.describe()} · dataset {data.name} · trained in {run.timings.get('fit_s', 0):.1f} s")
    cols = st.columns(4)
    cat_truck = set(run.unseen_names) == {"cat", "truck"}
    paper_note = f" The paper reports {PAPER['seen_accuracy']:.1%} with cat + truck held out." if cat_truck else ""
    cols[0].metric(
        f"Seen classes, softmax alone ({n_s}-way)", f"{h['seen_softmax']:.1%}",
        help=f"Test images of the {n_s} seen classes ({h['n_seen']:,} images), classified among the seen classes "
             f"only; no novelty gate.{paper_note}")
    pair_note = (f" The paper reports {PAPER['zero_shot_pair_accuracy']['cat-truck']:.0%} for cat vs truck."
                 if cat_truck else "")
    cols[1].metric(
        f"Zero-shot among held-out ({n_u}-way)", f"{h['zero_shot']:.1%}" if h["zero_shot"] is not None else "—",
        help=f"Test images of {held} ({h['n_unseen']:,} images), each given the nearest of the {n_u} unseen "
             f"word vectors, as if the gate were perfect. No image of these classes was used in training."
             f"{pair_note}")
    at = h["at_threshold"]
    cols[2].metric(
        f"Overall, full model ({len(run.class_names)}-way)", f"{at['overall']:.1%}",
        help=f"All {len(run.y_test):,} test images through Eq. 2 at the model's own novelty threshold "
             f"({at['novel_fraction']:.1%} called novel; chosen on seen-class validation images, not on the test set).")
    cols[3].metric(
        "Seen / unseen, full model", f"{at['seen']:.0%} / {at['unseen']:.0%}",
        help="Accuracy of the full model on the seen classes' test images and on the held-out classes' test "
             "images, at the model's own threshold. Move the threshold on the Threshold tradeoff page.")
    st.caption(f"All figures on the test split of {data.name}. Held out: {held}. Threshold for the last two: the "
               f"model's own ({at['novel_fraction']:.1%} of test images called novel).")

    st.subheader("Explore")
    for column, page in zip(st.columns(len(PAGES) - 1), PAGES[1:]):
        column.page_link(page, label=page.title, icon=page.icon, help=WHAT_EACH_PAGE_SHOWS[page.title])


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
