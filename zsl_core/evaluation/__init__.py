"""Evaluation of zero-shot classifiers.

| module | concept |
| --- | --- |
| ``sweep`` | the hard gate over every threshold: seen / unseen / overall / H, AUSUC, AUROC, confusion |
| ``pairs`` | 2-way zero-shot accuracy of held-out pairs, the all-pairs matrix |
| ``distractors`` | unseen accuracy as distractor words join the candidates |
| ``detectors`` | every novelty detector side by side (one held-out set, or summarised over many) |
"""

from .detectors import detector_scores, detector_table, summarise_tables
from .distractors import distractor_curve, nearest_distractor_words
from .pairs import (all_pairs_matrix, cosine_similarity_matrix, nearest_seen_class, similarity_vs_accuracy,
                    zero_shot_pair_accuracy)
from .sweep import (auroc, ausuc, best_point, confusion_matrix, share_for_threshold, threshold_for_share,
                    threshold_sweep)

__all__ = ["threshold_sweep", "ausuc", "best_point", "confusion_matrix", "auroc", "threshold_for_share",
           "share_for_threshold", "zero_shot_pair_accuracy",
           "all_pairs_matrix", "cosine_similarity_matrix", "nearest_seen_class", "similarity_vs_accuracy",
           "distractor_curve",
           "nearest_distractor_words", "detector_scores", "detector_table", "summarise_tables"]
