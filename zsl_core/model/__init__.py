"""The model of Socher et al. (2013): the map θ, novelty detection, the seen softmax, and Eq. 2 joining them.

| module | concept |
| --- | --- |
| ``base`` | the fitted check and the stratified validation split every estimator shares |
| ``statistics`` | per-class sufficient statistics (counts, sums, Gram matrices) of a feature set |
| ``mapping`` | θ: features → word space (Eq. 1): ridge and the 2-layer tanh net |
| ``novelty`` | novelty detectors: the paper's Gaussians (Eq. 3) and LoOP, softmax, feature-space and word-space scores, the learned gate |
| ``pseudo_unseen`` | fitting detectors on a model's pieces; the learned gate's pseudo-unseen training table |
| ``softmax`` | the seen-class softmax and its L-BFGS optimiser |
| ``classifier`` | :class:`ZeroShotClassifier`: Eq. 2's gate over the seen softmax and the unseen Gaussians |
"""

from .base import check_is_fitted, validation_split
from .classifier import GATES, UNSEEN_CENTERS, ZeroShotClassifier, ZSLScores
from .mapping import MAPPINGS, LinearMapping, TanhMLPMapping
from .novelty import DETECTORS, GaussianNoveltyDetector, LearnedGate, LoOPNoveltyDetector
from .softmax import SoftmaxRegression

__all__ = ["check_is_fitted", "validation_split", "ZeroShotClassifier", "ZSLScores", "GATES", "UNSEEN_CENTERS",
           "MAPPINGS", "LinearMapping", "TanhMLPMapping", "DETECTORS", "LearnedGate", "GaussianNoveltyDetector",
           "LoOPNoveltyDetector", "SoftmaxRegression"]
