"""Kayenta-compatible canary judge (Spinnaker Kayenta's NetflixACAJudge), in numpy.

For teams that migrate from Kayenta: the same metric data and the same canary config
give the same classifications and scores.  It is not Auspice's default judge: it treats
time-series points as independent, is looked at repeatedly without correction and has a
pass/fail cliff at the tolerance band (see docs/kayenta-api.md).

One step per module:

* :mod:`.zeroin`: R's Brent root finder (Kayenta's solver);
* :mod:`.mannwhitney`: the shift interval and Hodges-Lehmann estimate;
* :mod:`.preprocess`, :mod:`.detectors`, :mod:`.descriptive`: NaN strategy, outliers,
  summary statistics, R-7 percentiles;
* :mod:`.effect`: mean ratio, CLES, Cohen's d;
* :mod:`.classifier`: one metric -> Pass/High/Low/Nodata/NodataFailMetric/Error;
* :mod:`.scorer`: metric results -> group scores -> summary score -> Pass/Marginal/Fail.
"""

from .classifier import (
    ClassificationResult,
    Label,
    classify,
    classify_mean_inequality,
    classify_with,
)
from .config import (
    CLASSIFIER_CONFIDENCE,
    JUDGE_CONFIDENCE,
    JUDGE_TOLERANCE,
    ClassifierConfig,
    Direction,
    EffectSizeConfig,
    OutlierConfig,
)
from .descriptive import Summary, percentile, summary
from .detectors import iqr_fences, iqr_outliers, ksigma_outliers
from .effect import EffectMeasure, cles, cohen_d, effect_size, mean_ratio
from .errors import KayentaInputError
from .mannwhitney import MannWhitneyInterval, mann_whitney, normal_quantile, wilcoxon_diff
from .preprocess import NanStrategy, OutlierStrategy, handle_nans, preprocess, remove_outliers
from .scorer import MetricVerdict, ScoreLabel, ScoreResult, ScoreThresholds, score
from .zeroin import zeroin

__all__ = [
    "CLASSIFIER_CONFIDENCE",
    "JUDGE_CONFIDENCE",
    "JUDGE_TOLERANCE",
    "ClassificationResult",
    "ClassifierConfig",
    "Direction",
    "EffectMeasure",
    "EffectSizeConfig",
    "KayentaInputError",
    "Label",
    "MannWhitneyInterval",
    "MetricVerdict",
    "NanStrategy",
    "OutlierConfig",
    "OutlierStrategy",
    "ScoreLabel",
    "ScoreResult",
    "ScoreThresholds",
    "Summary",
    "classify",
    "classify_mean_inequality",
    "classify_with",
    "cles",
    "cohen_d",
    "effect_size",
    "handle_nans",
    "iqr_fences",
    "iqr_outliers",
    "ksigma_outliers",
    "mann_whitney",
    "mean_ratio",
    "normal_quantile",
    "percentile",
    "preprocess",
    "remove_outliers",
    "score",
    "summary",
    "wilcoxon_diff",
    "zeroin",
]
