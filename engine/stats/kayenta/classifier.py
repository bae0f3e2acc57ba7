"""Kayenta's per-metric verdict: Pass, High, Low, Nodata, NodataFailMetric or Error.

The order of the checks is Kayenta's (NetflixACAJudge with its MannWhitneyClassifier):

1. each side is cleaned (NaN strategy, then optional outlier removal, see
   :mod:`.preprocess`);
2. a side without values gives ``Nodata`` (critical if the metric is), or
   ``NodataFailMetric`` when the metric must have data and is not critical; with
   ``nan_strategy="replace"`` it is a ``Pass`` instead;
3. the same values on both sides (in any order), or a single value overall: ``Pass``;
4. both sides constant (but different): tiny Gaussian noise (sd = value x 1e-5) so the
   rank test can run;
5. the Mann-Whitney interval of experiment - control at ``confidence``; with
   bound = tolerance x |estimate|, ``High`` if increases count, lower > bound and the
   effect size is >= allowed_increase (or NaN); ``Low`` if decreases count,
   upper < -bound and the effect size is <= allowed_decrease (or NaN); else ``Pass``;
6. a High/Low of a critical metric is critical when the effect size also passes the
   critical threshold (or is NaN).

Anything that makes the test impossible becomes ``Error`` (never critical) with the
reason; nothing escapes.  One deliberate difference: Kayenta lets infinite values reach
the rank test, whose interval then comes out NaN and the metric passes silently; here
they give ``Error``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .config import ClassifierConfig, Direction
from .descriptive import Summary, summary
from .effect import effect_size, mean_ratio
from .errors import KayentaInputError
from .mannwhitney import MannWhitneyInterval, mann_whitney
from .preprocess import NanStrategy, handle_nans, preprocess

NOISE_SCALE = 1e-5


class Label(StrEnum):
    """Kayenta's metric classification names."""

    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA = "Nodata"
    NODATA_FAIL_METRIC = "NodataFailMetric"
    ERROR = "Error"


@dataclass(frozen=True)
class ClassificationResult:
    """One metric's verdict and the evidence behind it.

    ``deviation`` is mean(experiment) / mean(control), the "ratio" Kayenta reports (NaN
    when a mean is 0); ``effect_size`` is the configured measure (NaN when not computed);
    ``interval`` and ``bounds`` (the tolerance band -b..b) are None when the rank test
    did not run.  ``experiment`` and ``control`` summarise the data after cleaning.
    """

    classification: Label
    critical: bool
    reason: str | None
    deviation: float = 1.0
    effect_size: float = math.nan
    interval: MannWhitneyInterval | None = None
    bounds: tuple[float, float] | None = None
    experiment: Summary | None = None
    control: Summary | None = None
    name: str | None = None
    muted: bool = False

    @property
    def estimate(self) -> float | None:
        """Hodges-Lehmann estimate of experiment - control, when the test ran."""
        return None if self.interval is None else self.interval.estimate

    @property
    def failed(self) -> bool:
        """True for the labels that count against the canary score."""
        return self.classification in (Label.HIGH, Label.LOW, Label.NODATA_FAIL_METRIC)


def _sample(values: ArrayLike, side: str) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise KayentaInputError(f"{side}: values are not numbers ({error})") from None
    if array.ndim > 1:
        raise KayentaInputError(f"{side}: expected a one-dimensional sequence, got {array.shape}")
    return array.ravel()


def classify(experiment: ArrayLike, control: ArrayLike, **config: Any) -> ClassificationResult:
    """Classify one metric the way Kayenta's NetflixACAJudge does.

    ``config`` takes the keys of :class:`~.config.ClassifierConfig` (tolerance,
    confidence, direction, nan_strategy, critical, must_have_data, effect_size={measure,
    allowed_decrease, allowed_increase, critical_decrease, critical_increase},
    outliers={strategy, outlier_factor}, muted, name, seed).  An invalid config raises
    :class:`auspice.errors.ConfigError`; any problem with the data gives ``Error``.
    """
    cfg = ClassifierConfig.parse(config)
    return classify_with(experiment, control, cfg)


def classify_with(
    experiment: ArrayLike, control: ArrayLike, cfg: ClassifierConfig
) -> ClassificationResult:
    """:func:`classify` with an already validated config (no per-call validation cost)."""
    try:
        # overflow to inf/NaN is handled by the checks themselves (NaN effect size,
        # non-finite interval -> Error), so numpy's warnings would only be noise
        with np.errstate(all="ignore"):
            return _classify(_sample(experiment, "experiment"), _sample(control, "control"), cfg)
    except (KayentaInputError, ArithmeticError, ValueError) as error:
        return ClassificationResult(
            Label.ERROR,
            critical=False,
            reason=f"Metric Classification Failed: {error}",
            deviation=math.nan,
            name=cfg.name,
            muted=cfg.muted,
        )


def _classify(
    experiment: NDArray[np.float64], control: NDArray[np.float64], cfg: ClassifierConfig
) -> ClassificationResult:
    clean = {
        "nan_strategy": cfg.nan_strategy,
        "outlier_strategy": cfg.outliers.strategy,
        "outlier_factor": cfg.outliers.outlier_factor,
    }
    e = preprocess(experiment, **clean)
    c = preprocess(control, **clean)
    stats = {"experiment": summary(e), "control": summary(c), "name": cfg.name, "muted": cfg.muted}
    label = cfg.name or "the metric"

    if e.size == 0 or c.size == 0:
        return _no_data(cfg, label, stats)
    if e.size == c.size and np.array_equal(np.sort(e), np.sort(c)):
        reason = "The Canary and Baseline data are identical"
        return ClassificationResult(Label.PASS, False, reason, 1.0, **stats)
    if np.all(e == e[0]) and np.all(c == e[0]):
        return ClassificationResult(Label.PASS, False, None, 1.0, **stats)
    if not (np.isfinite(e).all() and np.isfinite(c).all()):
        raise KayentaInputError("infinite values; a rank-shift interval needs finite data")

    e, c = _separate_constants(e, c, seed=cfg.seed)
    interval = mann_whitney(e, c, cfg.confidence)
    deviation = mean_ratio(e, c)
    effect = effect_size(cfg.effect_size.measure, e, c)
    band = cfg.tolerance * abs(interval.estimate)
    verdict = _compare(interval, band, effect, cfg)
    critical = _is_critical(verdict, effect, cfg)
    reason = None
    if verdict is not Label.PASS:
        reason = f"{label} was classified as {verdict}" + (" (Critical)" if critical else "")
    return ClassificationResult(
        verdict, critical, reason, deviation, effect, interval, (-band, band), **stats
    )


def _no_data(cfg: ClassifierConfig, label: str, stats: Mapping[str, Any]) -> ClassificationResult:
    if cfg.nan_strategy is NanStrategy.REPLACE:
        return ClassificationResult(Label.PASS, False, None, 1.0, **stats)
    reason = f"Missing data for {label}"
    if cfg.must_have_data and not cfg.critical:
        return ClassificationResult(Label.NODATA_FAIL_METRIC, False, reason, 1.0, **stats)
    return ClassificationResult(Label.NODATA, cfg.critical, reason, 1.0, **stats)


def _separate_constants(
    e: NDArray[np.float64], c: NDArray[np.float64], *, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kayenta's escape for two constant samples: add noise of sd |value| x 1e-5 to each."""
    if not (np.all(e == e[0]) and np.all(c == c[0])):
        return e, c
    rng = np.random.default_rng(seed)
    noisy = []
    for side in (e, c):
        scale = abs(float(side[0])) * NOISE_SCALE
        noisy.append(side + rng.normal(0.0, scale, side.size) if scale > 0 else side)
    return noisy[0], noisy[1]


def _compare(
    interval: MannWhitneyInterval, band: float, effect: float, cfg: ClassifierConfig
) -> Label:
    allowed_decrease, allowed_increase = cfg.effect_size.thresholds
    unknown = math.isnan(effect)
    if (
        cfg.direction.allows_increase
        and interval.lower > band
        and (unknown or effect >= allowed_increase)
    ):
        return Label.HIGH
    if (
        cfg.direction.allows_decrease
        and interval.upper < -band
        and (unknown or effect <= allowed_decrease)
    ):
        return Label.LOW
    return Label.PASS


def _is_critical(verdict: Label, effect: float, cfg: ClassifierConfig) -> bool:
    if not cfg.critical:
        return False
    critical_decrease, critical_increase = cfg.effect_size.critical_thresholds
    unknown = math.isnan(effect)
    if verdict is Label.HIGH:
        return unknown or effect >= critical_increase
    if verdict is Label.LOW:
        return unknown or effect <= critical_decrease
    return False


def classify_mean_inequality(
    experiment: ArrayLike,
    control: ArrayLike,
    *,
    direction: Direction | str = Direction.EITHER,
    nan_strategy: NanStrategy | str = NanStrategy.REMOVE,
    critical: bool = False,
    must_have_data: bool = False,
) -> ClassificationResult:
    """Kayenta's benchmark classifier: High/Low whenever the means differ at all.

    No test, no tolerance; Kayenta keeps it as a baseline to compare judges against.
    """
    direction = Direction(direction)
    cfg = ClassifierConfig(
        direction=direction,
        nan_strategy=NanStrategy(nan_strategy),
        critical=critical,
        must_have_data=must_have_data,
    )
    try:
        e = handle_nans(_sample(experiment, "experiment"), cfg.nan_strategy)
        c = handle_nans(_sample(control, "control"), cfg.nan_strategy)
    except KayentaInputError as error:
        return ClassificationResult(Label.ERROR, False, str(error), math.nan)
    stats = {"experiment": summary(e), "control": summary(c)}
    if e.size == 0 or c.size == 0:
        return _no_data(cfg, "the metric", stats)
    if not (np.isfinite(stats["experiment"].mean) and np.isfinite(stats["control"].mean)):
        reason = "infinite values (or means that overflow); the means cannot be compared"
        return ClassificationResult(Label.ERROR, False, reason, math.nan, **stats)
    e_mean, c_mean = stats["experiment"].mean, stats["control"].mean
    ratio = mean_ratio(e, c)
    if direction.allows_increase and e_mean > c_mean:
        reason = "The Canary mean was greater than the Baseline mean"
        return ClassificationResult(Label.HIGH, critical, reason, ratio, **stats)
    if direction.allows_decrease and e_mean < c_mean:
        reason = "The Canary mean was less than the Baseline mean"
        return ClassificationResult(Label.LOW, critical, reason, ratio, **stats)
    return ClassificationResult(Label.PASS, False, None, 1.0, **stats)
