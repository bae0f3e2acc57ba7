"""Per-metric settings of the Kayenta-compatible classifier, validated.

The keys are those of Kayenta's canary config (``analysisConfigurations.canary``) in
snake_case, as in ``reference/kayenta-suite.json``; Kayenta's own camelCase spellings
(``nanStrategy``, ``mustHaveData``, ``effectSize.allowedIncrease``,
``outliers.outlierFactor``...) are accepted too, so a Kayenta canary config can be passed
through unchanged.  Defaults are those of Kayenta's NetflixACAJudge, which is what a
Kayenta user gets: tolerance 0.25, confidence 0.98, effect-size thresholds 1.0 for
``meanRatio`` and 0.5 for ``cles``.  (Kayenta's ``MannWhitneyClassifier`` class on its own
defaults to confidence 0.95; pass ``confidence=0.95`` to get that.)

Unlike Kayenta, an unknown key or value is an error (:class:`auspice.errors.ConfigError`)
rather than silently replaced by a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from auspice.errors import ConfigError, one_line

from .effect import EffectMeasure
from .preprocess import DEFAULT_OUTLIER_FACTOR, NanStrategy, OutlierStrategy

JUDGE_TOLERANCE = 0.25
JUDGE_CONFIDENCE = 0.98
CLASSIFIER_CONFIDENCE = 0.95


class Direction(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"

    @property
    def allows_increase(self) -> bool:
        return self is not Direction.DECREASE

    @property
    def allows_decrease(self) -> bool:
        return self is not Direction.INCREASE


def _alias(snake: str, camel: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(snake, camel))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EffectSizeConfig(_Strict):
    """Which effect size to use and the thresholds it must pass for High/Low."""

    measure: EffectMeasure = EffectMeasure.MEAN_RATIO
    allowed_decrease: float | None = _alias("allowed_decrease", "allowedDecrease")
    allowed_increase: float | None = _alias("allowed_increase", "allowedIncrease")
    critical_decrease: float | None = _alias("critical_decrease", "criticalDecrease")
    critical_increase: float | None = _alias("critical_increase", "criticalIncrease")

    @property
    def default_threshold(self) -> float:
        """What an unset threshold means: 0.5 for ``cles`` (no effect), else 1.0."""
        return 0.5 if self.measure is EffectMeasure.CLES else 1.0

    def _or_default(self, value: float | None) -> float:
        return self.default_threshold if value is None else float(value)

    @property
    def thresholds(self) -> tuple[float, float]:
        """(allowed_decrease, allowed_increase), Kayenta's effectSizeThresholds."""
        return self._or_default(self.allowed_decrease), self._or_default(self.allowed_increase)

    @property
    def critical_thresholds(self) -> tuple[float, float]:
        """(critical_decrease, critical_increase), Kayenta's criticalThresholds."""
        return self._or_default(self.critical_decrease), self._or_default(self.critical_increase)


class OutlierConfig(_Strict):
    strategy: OutlierStrategy = OutlierStrategy.KEEP
    outlier_factor: float = Field(
        default=DEFAULT_OUTLIER_FACTOR,
        gt=0.0,
        validation_alias=AliasChoices("outlier_factor", "outlierFactor"),
    )


class ClassifierConfig(_Strict):
    """Everything :func:`auspice.stats.kayenta.classify` accepts as keyword arguments."""

    tolerance: float = Field(default=JUDGE_TOLERANCE, ge=0.0)
    confidence: float = Field(default=JUDGE_CONFIDENCE, gt=0.0, lt=1.0)
    direction: Direction = Direction.EITHER
    nan_strategy: NanStrategy = Field(
        default=NanStrategy.REMOVE, validation_alias=AliasChoices("nan_strategy", "nanStrategy")
    )
    critical: bool = False
    must_have_data: bool = Field(
        default=False, validation_alias=AliasChoices("must_have_data", "mustHaveData")
    )
    muted: bool = False
    effect_size: EffectSizeConfig = Field(
        default_factory=EffectSizeConfig,
        validation_alias=AliasChoices("effect_size", "effectSize"),
    )
    outliers: OutlierConfig = Field(default_factory=OutlierConfig)
    name: str | None = None
    seed: int = 0
    """Seed of the tiny noise added when both sides are constant (Kayenta draws it at
    random; a fixed seed keeps a look a deterministic function of its data)."""

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> ClassifierConfig:
        try:
            return cls.model_validate(dict(config))
        except ValidationError as error:
            problems = one_line(error, whole="(config)")
            raise ConfigError(
                f"invalid Kayenta classifier config: {problems}",
                hint="see auspice.stats.kayenta.ClassifierConfig for the accepted keys",
            ) from None
