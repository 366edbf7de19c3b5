"""What a run says: the verdict on photos (:func:`classify`), the images they resemble, and the headline
figures (:func:`summary`), each saying what it measures."""

from __future__ import annotations

import numpy as np

from .run import Run

__all__ = ["classify", "classify_features", "nearest_training_images", "summary", "explain_verdict"]




def classify(run: Run, images, threshold: float | None = None, words=None, n_words: int = 5,
             extra_labels=()) -> list[dict]:
    """Follow photos through the model: features, word space, the gate, Eq. 2.

    Parameters
    ----------
    run : Run
    images : ndarray (n, 32, 32, 3) uint8 or (32, 32, 3)
        Prepared photos (``zsl_core.data.prepare_image``).
    threshold : float or None
        On the detector's scale; ``None`` = the model's own.
    words : WordVectors or None
        For the nearest words to each mapped photo, and the vectors of ``extra_labels``.
    n_words : int
        Nearest words to return per photo (0: none, which skips a pass over the 400,000 words).
    extra_labels : sequence of str
        Words that join the held-out classes as candidates (e.g. typed by a student: "tiger, bus"): their
        word vectors are turned into prototypes exactly like the held-out classes' (``model.prototypes``),
        nothing is refitted. Needs ``words``; a word it does not know raises ``OutOfVocabularyError``.

    Returns
    -------
    list of dict, one per photo
        ``verdict`` ('seen class' / 'novel (unseen class)'), ``class``, ``novel`` (bool), ``novelty``,
        ``threshold``, ``novelty_probability``, ``probabilities`` (class → P(y|x) over the classes and the
        extra labels), ``seen_probabilities``, ``unseen_probabilities`` (held-out classes and extra labels,
        as if the photo were novel), ``mapped`` (D,), ``features`` (d,), ``nearest_words`` [(word, cosine)].
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    x = np.asarray(run.features.extractor.transform(images))
    return classify_features(run, x, threshold, words, n_words, extra_labels)


def classify_features(run: Run, x: np.ndarray, threshold: float | None = None, words=None,
                      n_words: int = 5, extra_labels=()) -> list[dict]:
    """:func:`classify` from precomputed image features ``x`` (n, d)."""
    t = run.resolve(threshold)
    model = run.model
    x = np.atleast_2d(np.asarray(x))
    scores = model.decompose(x)
    names = run.class_names
    extra = [str(w) for w in extra_labels]
    if extra:
        if words is None:
            raise ValueError("extra_labels need word vectors: pass words=WordVectors.from_glove_package()")
        centres = model.prototypes(words.class_vectors(extra))
        unseen_p = np.exp(model.unseen_log_proba(scores.mapped, extra_centers=centres))
    else:
        unseen_p = np.exp(model.unseen_log_proba(scores.mapped))
    C = len(names)
    all_names = names + extra
    unseen_full = np.zeros((len(x), C + len(extra)))
    unseen_full[:, list(model.unseen_) + list(range(C, C + len(extra)))] = unseen_p
    seen_full = np.zeros((len(x), C + len(extra)))
    seen_full[:, :C] = scores.seen_proba
    if model.gate == "mixture":
        p_novel = np.clip(scores.novelty_probability, 0, 1)
    else:
        p_novel = (scores.novelty > t).astype(np.float64)
    proba = (1 - p_novel)[:, None] * seen_full + p_novel[:, None] * unseen_full
    nearest = (words.nearest(scores.mapped, k=n_words) if words is not None and n_words > 0
               else [[] for _ in range(len(x))])
    unseen_cols = list(model.unseen_) + list(range(C, C + len(extra)))
    out = []
    for i in range(len(x)):
        novelty = float(scores.novelty[i])
        novel = bool(p_novel[i] > 0.5)
        top = int(np.argmax(proba[i]))
        out.append({
            "verdict": "novel (unseen class)" if novel else "seen class",
            "class": all_names[top],
            "prediction": top,
            "novel": novel,
            "novelty": novelty,
            "threshold": t,
            "novelty_probability": float(scores.novelty_probability[i]),
            "probabilities": {all_names[j]: float(proba[i, j]) for j in range(len(all_names))},
            "seen_probabilities": {names[j]: float(scores.seen_proba[i, j]) for j in model.seen_},
            "unseen_probabilities": {all_names[j]: float(unseen_full[i, j]) for j in unseen_cols},
            "mapped": np.asarray(scores.mapped[i]),
            "features": np.asarray(x[i]),
            "nearest_words": [(w, float(s)) for w, s in nearest[i]],
        })
    return out


def nearest_training_images(run: Run, x: np.ndarray, k: int = 6) -> list[np.ndarray]:
    """The ``k`` training images of the *seen* classes most similar to each photo (cosine of standardised
    features): the images the model learnt from that this photo resembles. Held-out classes' training images
    are never shown: the model has never seen them.

    Returns
    -------
    list of ndarray of int, one per photo
        Row indices into ``run.dataset.train_images``, most similar first.
    """
    import torch

    model = run.model
    y = np.asarray(run.dataset.train_labels)
    rows = np.flatnonzero(np.isin(y, model.seen_))
    train = torch.from_numpy(np.ascontiguousarray(run.features.X_train[rows], dtype=np.float32))
    mean, scale = torch.from_numpy(model.mean_), torch.from_numpy(model.scale_)
    train = torch.nn.functional.normalize((train - mean) / scale, dim=1)
    query = torch.from_numpy(np.atleast_2d(np.asarray(x, dtype=np.float32)))
    query = torch.nn.functional.normalize((query - mean) / scale, dim=1)
    top = torch.topk(query @ train.T, min(k, rows.size), dim=1).indices.numpy()
    return [rows[t] for t in top]


# ------------------------------------------------------------------------------------------------ summary


def summary(run: Run, threshold: float | None = None) -> dict:
    """The headline figures of a run, each with what it measures (test split; which classes; which threshold).

    Returns
    -------
    dict
        ``seen_softmax``: the seen-class softmax alone on test images of the seen classes (S-way; the paper's
        82.5 % figure). ``zero_shot``: test images of the held-out classes classified among the held-out
        classes only, as if the gate were perfect (U-way; the paper's 2-way figure when U = 2); ``None``
        with one held-out class (a 1-way choice measures nothing). ``at_threshold``: seen / unseen / overall
        / H / share called novel through Eq. 2 at ``threshold`` (default: the model's own).
        ``call_nothing_unseen``: overall accuracy when the gate calls nothing novel — what a gate must beat.
        ``gate_gain``: overall at the threshold minus that. Counts (``n_test``, ``n_seen``, ``n_unseen``),
        ``threshold`` and ``threshold_is_models_own``, and ``describe``: one sentence per figure.
    """
    y = run.y_test
    seen_mask = np.isin(y, run.seen)
    unseen_mask = np.isin(y, run.unseen)
    scores = run.scores
    seen_pred = run.seen[np.argmax(np.asarray(scores.seen_proba)[:, run.seen], axis=1)]
    unseen_pred = run.unseen[np.argmax(np.asarray(scores.unseen_proba)[:, run.unseen], axis=1)]
    n = len(y)
    seen_softmax = float(np.mean(seen_pred[seen_mask] == y[seen_mask])) if seen_mask.any() else float("nan")
    zero_shot = (float(np.mean(unseen_pred[unseen_mask] == y[unseen_mask]))
                 if unseen_mask.any() and len(run.unseen) >= 2 else None)
    t = run.resolve(threshold)
    at = run.at_threshold(t)
    nothing = float(np.sum(seen_pred[seen_mask] == y[seen_mask]) / n) if n else float("nan")
    S, U = len(run.seen), len(run.unseen)
    held = " + ".join(run.unseen_names)
    own = threshold is None or np.isclose(t, run.threshold)
    which_t = ("the model's own threshold (chosen on seen-class validation images, not on test images)" if own
               else "the chosen threshold")
    gain = at["overall"] - nothing
    describe = {
        "seen_softmax": f"{S}-way softmax alone on the {int(seen_mask.sum()):,} test images of the seen classes "
                        f"({', '.join(run.seen_names)}); no novelty gate.",
        "zero_shot": (f"{int(unseen_mask.sum()):,} test images of {held}, each given the nearest of the {U} "
                      f"held-out classes' prototypes, as if the gate were perfect." if zero_shot is not None else
                      f"With one held-out class ({held}) there is nothing to choose among: hold out two or more "
                      f"classes for a zero-shot accuracy."),
        "at_threshold": f"all {n:,} test images, {S + U}-way through Eq. 2 at {which_t}: "
                        f"{at['novel_fraction']:.1%} called novel, where {unseen_mask.mean():.1%} are.",
        "call_nothing_unseen": f"all {n:,} test images with the gate calling nothing novel (every image to the "
                               f"seen softmax): the {unseen_mask.mean():.0%} of held-out images are all wrong.",
        "gate_gain": (f"the gate {'gains' if gain > 0 else 'costs'} {abs(gain):.1%} of overall accuracy against "
                      f"calling nothing unseen at {which_t}."),
    }
    return {
        "seen_softmax": seen_softmax,
        "zero_shot": zero_shot,
        "at_threshold": at,
        "call_nothing_unseen": nothing,
        "gate_gain": gain,
        "threshold": t,
        "threshold_is_models_own": bool(own),
        "n_test": int(n),
        "n_seen": int(seen_mask.sum()),
        "n_unseen": int(unseen_mask.sum()),
        "seen_names": run.seen_names,
        "unseen_names": run.unseen_names,
        "describe": describe,
    }


def explain_verdict(run: Run, result: dict) -> dict:
    """A verdict of :func:`classify` in plain words: why novel (or not), what the gate did, what else it could be.

    The novelty score is placed among the *seen* classes' own test images (an image more unusual than 97 % of
    them is unusual indeed), and so is the cutoff; then what the gate did with the probabilities.

    Parameters
    ----------
    run : Run
    result : dict
        One photo's entry from :func:`classify` / :func:`classify_features`.

    Returns
    -------
    dict
        ``unusual_share``: share of the seen classes' test images with a lower novelty score than the photo;
        ``cutoff_share``: share of them below the cutoff (the rest, ``1 - cutoff_share``, are seen images the
        gate wrongly calls novel); ``seen_guess`` and ``unseen_guess``: ``(class, probability)`` of the seen
        softmax alone and of the held-out candidates alone; ``gate``; ``sentences``: ``why``, ``gate`` and
        ``otherwise``, each one plain sentence.
    """
    novelty = np.asarray(run.scores.novelty, dtype=np.float64)
    seen_scores = novelty[np.isin(run.y_test, run.seen)]
    if seen_scores.size == 0:
        seen_scores = novelty
    score, t = float(result["novelty"]), float(result["threshold"])
    unusual = float(np.mean(seen_scores < score))
    cutoff = float(np.mean(seen_scores <= t))
    seen_guess = max(result["seen_probabilities"].items(), key=lambda kv: kv[1])
    unseen_guess = max(result["unseen_probabilities"].items(), key=lambda kv: kv[1])
    candidates = list(result["unseen_probabilities"])
    gate = run.model.gate
    if result["novel"]:
        why = (f"It lands farther from the seen classes than {unusual:.0%} of their own test images do; the "
               f"threshold calls novel anything past {cutoff:.0%} of them, so it is called novel.")
    else:
        why = (f"It lands farther from the seen classes than {unusual:.0%} of their own test images do; the "
               f"threshold calls novel only what lies past {cutoff:.0%} of them, so it is called familiar.")
    names = ", ".join(candidates)
    if gate == "hard":
        if result["novel"]:
            what = (f"With the hard gate (Eq. 2) a photo called novel can only be one of the held-out candidates "
                    f"({names}): every seen class gets 0 %, and the {unseen_guess[1]:.0%} for "
                    f"{unseen_guess[0]} means \u201c{unseen_guess[0]} rather than the other candidates\u201d, not "
                    f"certainty that it is one.")
            otherwise = (f"Had it been called familiar, the seen-class softmax would have said {seen_guess[0]} "
                         f"({seen_guess[1]:.0%}).")
        else:
            what = (f"With the hard gate (Eq. 2) a photo called familiar can only be a seen class: every held-out "
                    f"candidate gets 0 %, and {seen_guess[0]} gets the seen softmax's {seen_guess[1]:.0%}.")
            otherwise = (f"Had it been called novel, the nearest held-out candidate would have been "
                         f"{unseen_guess[0]} ({unseen_guess[1]:.0%} among {names}).")
    else:
        p = float(np.clip(result["novelty_probability"], 0, 1))
        what = (f"The mixture gate weighs both answers by the probability that the photo is novel ({p:.0%}): "
                f"{1 - p:.0%} of the seen softmax plus {p:.0%} of the held-out candidates.")
        otherwise = (f"Seen softmax alone: {seen_guess[0]} ({seen_guess[1]:.0%}); held-out candidates alone: "
                     f"{unseen_guess[0]} ({unseen_guess[1]:.0%}).")
    return {"unusual_share": unusual, "cutoff_share": cutoff, "seen_guess": seen_guess,
            "unseen_guess": unseen_guess, "gate": gate,
            "sentences": {"why": why, "gate": what, "otherwise": otherwise}}
