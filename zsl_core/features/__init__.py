"""Image -> feature vector: the paper's unsupervised Coates-Ng features, and a pretrained EfficientNet-Lite.

| module | concept |
| --- | --- |
| ``base`` | :class:`FeatureExtractor`, the scikit-learn-like base class |
| ``coates`` | :class:`CoatesFeatures` (the paper's; Coates & Ng 2011) |
| ``efficientnet`` | :class:`EfficientNetFeatures` (ImageNet-pretrained CNN, via ONNX) |
| ``extraction`` | the registry, cache keys, :func:`compute_features` |

:func:`compute_features` fits an extractor on the training images only, encodes train and test, and caches
the result keyed by everything that produced it.

References
----------
Socher, Ganjoo, Manning, Ng. "Zero-Shot Learning Through Cross-Modal Transfer". NIPS 2013.
"""

from .base import FEATURES_VERSION, FeatureExtractor
from .coates import CoatesFeatures, zca_whitening
from .efficientnet import EfficientNetFeatures
from .extraction import EXTRACTORS, FeatureSet, compute_features, feature_key, make_extractor

__all__ = ["FeatureExtractor", "CoatesFeatures", "EfficientNetFeatures", "EXTRACTORS", "FeatureSet",
           "compute_features", "feature_key", "make_extractor", "zca_whitening", "FEATURES_VERSION"]
