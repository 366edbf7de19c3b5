"""The experiment, in one place: settings → dataset → features → class statistics → fitted model → test scores.

Every caller — the app's cached pipeline, ``python -m zsl_core reproduce`` and ``classify``, the benchmarks and
the tests' references — builds a model through :func:`train` from a :class:`Config`, and reads its figures
through :class:`Run` and :func:`summary`. Nothing else constructs the classifier from settings.

Stages, each cached on disk by the stage's own module and keyed by everything that produced it:

1. :func:`load_data` — the dataset (``zsl_core.data``), optionally a stratified subset;
2. :func:`load_features` — image features (``zsl_core.features``);
3. :func:`load_statistics` — per-class counts, sums and Gram matrices on one fixed fitting / validation split
   (``zsl_core.model.statistics``): any held-out set's ridge map is solved from them;
4. :func:`fit_model` — the :class:`~zsl_core.model.ZeroShotClassifier` on the seen classes (also cached, so
   the command line's ``classify`` does not refit);
5. the test images' scores (``model.decompose``), from which every threshold's figures follow without a model
   call.

The threshold reaches the engine by one route: a value on the detector's novelty-score scale (novel ⇔ score >
threshold), ``None`` meaning the model's own (chosen on seen-class validation images). A *share of test images
called novel* (the app's slider) is turned into that value by :meth:`Run.threshold_for_share`.
"""

from .config import Config, ConfigError
from .results import classify, classify_features, explain_verdict, nearest_training_images, summary
from .run import Run, train
from .stages import (MODEL_VERSION, VALIDATION_FRACTION, check_dataset, estimate_seconds, fit_model, load_data,
                     load_features, load_statistics, loop_problem, pairs_matrix, plan)

__all__ = ["Config", "ConfigError", "Run", "train", "classify", "classify_features", "summary", "load_data",
           "load_features", "load_statistics", "fit_model", "pairs_matrix", "nearest_training_images",
           "estimate_seconds", "plan", "explain_verdict", "check_dataset", "loop_problem", "MODEL_VERSION",
           "VALIDATION_FRACTION"]
