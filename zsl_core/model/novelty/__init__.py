"""Novelty detectors: is an image of a seen class, or of an unseen one? One module per family.

| module | detectors | input |
| --- | --- | --- |
| ``paper`` | the paper's isometric Gaussians (Eq. 3) and LoOP | mapped points ``θ(x)`` |
| ``word_scores`` | relative word score: nearest unseen vs nearest seen prototype (calibrated stacking) | mapped points |
| ``softmax_scores`` | max softmax probability, entropy, energy | the seen softmax's logits |
| ``feature_scores`` | cosine kNN, relative Mahalanobis | raw image features |
| ``learned`` | the learned gate: a combination of the others, fitted on pseudo-unseen seen classes | their scores |
| ``base`` | the shared outlier API (``score_samples``, ``decision_function``, ``predict``, ``offset_``) | |

Every detector has ``fit``, ``score_samples`` (higher = familiar), ``novelty_score`` (higher = novel: the
scale of the model's threshold), ``novelty_probability`` (for the mixture gate), ``decision_function`` and
``predict``; its class attributes ``input`` (what it reads), ``paper``, ``label`` and ``description``.
"""

from .base import INPUT_KINDS, fit_detector
from .feature_scores import CosineKNNDetector, MahalanobisDetector
from .learned import LearnedGate
from .paper import GaussianNoveltyDetector, LoOPNoveltyDetector, knn
from .softmax_scores import EnergyDetector, MaxSoftmaxDetector, SoftmaxEntropyDetector
from .word_scores import RelativeWordDetector

__all__ = ["DETECTORS", "INPUT_KINDS", "fit_detector", "GaussianNoveltyDetector",
           "LoOPNoveltyDetector", "MaxSoftmaxDetector", "SoftmaxEntropyDetector", "EnergyDetector",
           "CosineKNNDetector", "MahalanobisDetector", "RelativeWordDetector", "LearnedGate", "knn"]

#: The registry of novelty detectors: name -> class (the paper's first).
DETECTORS = {
    "gaussian": GaussianNoveltyDetector,
    "loop": LoOPNoveltyDetector,
    "max_softmax": MaxSoftmaxDetector,
    "entropy": SoftmaxEntropyDetector,
    "energy": EnergyDetector,
    "cosine_knn": CosineKNNDetector,
    "relative_mahalanobis": MahalanobisDetector,
    "relative_word": RelativeWordDetector,
    "learned": LearnedGate,
}
