"""HistogramTest and choose_boundaries (docs/judges.md).

The histogram test is checked against its definition: slow requests at a boundary are
count(+Inf) - bucket(le), each boundary is a count test, and the e-values are averaged.
The per-boundary count e-values are recomputed independently with scipy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import binom, norm

from auspice.errors import InputError
from auspice.stats import HistogramTest, choose_boundaries
from auspice.stats.count import ALTERNATIVE_DELTAS, ALTERNATIVE_WEIGHTS

INF = float("inf")
LE = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, INF]


def count_e(x_c: float, n_c: float, x_b: float, n_b: float, r0: float = 1.0) -> float:
    """One look's binomial mixture e-value at tolerance r0 (independent of auspice)."""
    m, rho = x_c + x_b, n_c / (n_c + n_b)
    if m == 0:
        return 1.0
    q0 = rho * r0 / (rho * r0 + 1 - rho)
    logs = []
    for delta in ALTERNATIVE_DELTAS:
        r = r0 * math.exp(delta)
        q = rho * r / (rho * r + 1 - rho)
        logs.append(binom.logpmf(x_c, m, q) - binom.logpmf(x_c, m, q0))
    return float(np.exp(logsumexp(logs, b=ALTERNATIVE_WEIGHTS)))


# -- choose_boundaries -------------------------------------------------------------


def test_boundaries_nearest_the_baseline_quantiles():
    cumulative = [10, 40, 55, 80, 91, 99, 100]  # shares .10 .40 .55 .80 .91 .99
    assert choose_boundaries(le=LE, baseline_buckets=cumulative) == [0.25, 1.0, 2.5]


def test_boundaries_from_prometheus_strings_in_any_order():
    le = ["+Inf", "0.5", "0.05", "2.5", "0.1", "1", "0.25"]
    counts = [100, 80, 10, 99, 40, 91, 55]
    assert choose_boundaries(le=le, baseline_buckets=counts) == [0.25, 1.0, 2.5]


def test_boundaries_custom_quantiles_and_duplicates_merged():
    cumulative = [10, 40, 55, 80, 91, 99, 100]
    assert choose_boundaries(le=LE, baseline_buckets=cumulative,
                             quantiles=[0.1, 0.12, 0.8]) == [0.05, 0.5]


def test_boundaries_are_never_plus_inf():
    # Every request slower than the largest finite bucket: the p99 lies in +Inf.
    for counts in ([0, 0, 0, 0, 0, 0, 100], [0, 0, 0, 0, 0, 50, 100], [1, 2, 3, 4, 5, 6, 1000]):
        chosen = choose_boundaries(le=LE, baseline_buckets=counts)
        assert chosen and all(math.isfinite(b) for b in chosen)
        assert set(chosen) <= set(LE[:-1])


@pytest.mark.parametrize("le", [[0.1, 0.5, 1.0], [-INF, 0.1, 0.5]])
def test_boundaries_need_a_plus_inf_bucket(le):
    with pytest.raises(InputError, match=r"\+Inf"):
        choose_boundaries(le=le, baseline_buckets=[1, 5, 10])


@pytest.mark.parametrize(("le", "counts", "words"), [
    (LE, [0] * 7, "no requests"),
    ([INF], [10], "only the +Inf"),
    (LE, [1, 2, 3], "bucket counts"),
])
def test_boundaries_reject_unusable_histograms(le, counts, words):
    with pytest.raises(InputError, match=words.replace("+", r"\+")):
        choose_boundaries(le=le, baseline_buckets=counts)


@pytest.mark.parametrize("q", [0.0, 1.0, 1.5])
def test_boundaries_reject_quantiles_outside_the_unit_interval(q):
    with pytest.raises(InputError, match="quantile"):
        choose_boundaries(le=LE, baseline_buckets=[10, 40, 55, 80, 91, 99, 100], quantiles=[q])


@pytest.mark.parametrize(("le", "counts"), [
    (["0.1", "fast", "+Inf"], [1, 2, 3]),
    (LE, [[10, 40, 55, 80, 91, 99, 100]] * 2),
])
def test_boundaries_bad_input_is_an_input_error(le, counts):
    with pytest.raises(InputError):
        choose_boundaries(le=le, baseline_buckets=counts)


# -- HistogramTest -----------------------------------------------------------------


def test_slow_counts_are_total_minus_bucket():
    test = HistogramTest(boundaries=[0.25, 1.0])
    canary = [5, 20, 40, 60, 80, 95, 100]
    baseline = [50, 200, 500, 700, 900, 980, 1000]
    r = test.update(le=LE, canary_buckets=canary, baseline_buckets=baseline)
    assert r.counts["canary_events_at_0.25"] == 100 - 40
    assert r.counts["canary_events_at_1"] == 100 - 80
    assert r.counts["baseline_events_at_0.25"] == 1000 - 500
    assert r.counts["baseline_events_at_1"] == 1000 - 900
    assert r.counts["canary_total_at_1"] == 100
    assert r.counts["baseline_total_at_0.25"] == 1000


def test_e_value_is_the_mean_of_the_boundaries_count_e_values():
    test = HistogramTest(boundaries=[0.25, 1.0])
    canary = [5, 20, 30, 50, 70, 95, 100]  # slower than the baseline
    baseline = [50, 200, 500, 700, 900, 980, 1000]
    r = test.update(le=LE, canary_buckets=canary, baseline_buckets=baseline)
    expected = np.mean([count_e(100 - 30, 100, 1000 - 500, 1000),
                        count_e(100 - 70, 100, 1000 - 900, 1000)])
    assert r.e_value == pytest.approx(expected, rel=1e-9)
    assert r.counts["worst_boundary"] == 1.0


def test_tolerance_is_passed_to_every_boundary():
    test = HistogramTest(boundaries=[0.25, 1.0], tolerance=2.0)
    canary = [5, 20, 30, 50, 70, 95, 100]
    baseline = [50, 200, 500, 700, 900, 980, 1000]
    r = test.update(le=LE, canary_buckets=canary, baseline_buckets=baseline)
    expected = np.mean([count_e(70, 100, 500, 1000, r0=2.0), count_e(30, 100, 100, 1000, r0=2.0)])
    assert r.e_value == pytest.approx(expected, rel=1e-9)


def test_unsorted_and_string_le_give_the_same_answer():
    canary = [5, 20, 30, 50, 70, 95, 100]
    baseline = [50, 200, 500, 700, 900, 980, 1000]
    order = [6, 3, 0, 5, 1, 4, 2]
    le_strings = ["+Inf" if math.isinf(LE[i]) else repr(LE[i]) for i in order]
    a = HistogramTest(boundaries=[0.25, 1.0]).update(
        le=LE, canary_buckets=canary, baseline_buckets=baseline)
    b = HistogramTest(boundaries=[1.0, 0.25]).update(
        le=le_strings, canary_buckets=[canary[i] for i in order],
        baseline_buckets=[baseline[i] for i in order])
    assert a.e_value == b.e_value and a.counts == b.counts


def test_missing_boundary_is_an_input_error_naming_it():
    test = HistogramTest(boundaries=[0.3])
    with pytest.raises(InputError, match=r"0\.3"):
        test.update(le=LE, canary_buckets=[1] * 7, baseline_buckets=[1] * 7)


@pytest.mark.parametrize("le", [[0.1, 0.25, 0.5], [-INF, 0.1, 0.25, 0.5]])
def test_update_needs_a_plus_inf_bucket(le):
    test = HistogramTest(boundaries=[0.25])
    counts = list(range(1, len(le) + 1))
    with pytest.raises(InputError, match=r"\+Inf"):
        test.update(le=le, canary_buckets=counts, baseline_buckets=counts)


@pytest.mark.parametrize("buckets", [
    5.0, None, "fast", [[1, 2, 3], [1, 2]], np.ones((2, 2, 3)),
])
def test_update_with_malformed_buckets_is_an_input_error(buckets):
    test = HistogramTest(boundaries=[0.1])
    with pytest.raises(InputError):
        test.update(le=[0.1, 0.5, INF], canary_buckets=buckets, baseline_buckets=buckets)


def test_mismatched_metric_counts_are_an_input_error():
    test = HistogramTest(boundaries=[0.1])
    with pytest.raises(InputError, match="metrics"):
        test.update(le=[0.1, INF], canary_buckets=[[1, 2]] * 2, baseline_buckets=[[1, 2]] * 3)


def test_empty_look_is_no_data_and_not_evidence():
    test = HistogramTest(boundaries=[0.25, 1.0])
    r = test.update(le=LE, canary_buckets=[0] * 7, baseline_buckets=[0] * 7)
    assert r.status == "no_data" and "no requests" in r.reason
    assert r.e_value == 1.0 and r.p_value == 1.0 and not r.rejected
    assert r.no_data_streak == 1 and r.data_looks == 0


def test_counter_reset_in_one_bucket_is_no_data():
    test = HistogramTest(boundaries=[0.25])
    baseline = [50, 200, 500, 700, 900, 980, 1000]
    # bucket(le=0.25) larger than the total: the counters moved inconsistently
    r = test.update(le=LE, canary_buckets=[5, 20, 140, 140, 140, 140, 100],
                    baseline_buckets=baseline)
    assert r.status == "no_data" and r.reason
    assert r.e_value == 1.0


def test_constructor_needs_finite_boundaries():
    for boundaries in ([], [INF], [0.1, float("nan")]):
        with pytest.raises(InputError):
            HistogramTest(boundaries=boundaries)


def _looks(rng, runs: int, canary_scale: float):
    """Bucket increases of lognormal latencies (median 0.2 s), vectorized over runs."""
    edges = np.array(LE)
    grid = np.log(edges[:-1] / 0.2) / 0.8

    def probs(scale: float) -> np.ndarray:
        cdf = norm.cdf(grid - np.log(scale) / 0.8)
        return np.diff(np.concatenate([[0.0], cdf, [1.0]]))

    n_c = rng.poisson(100, runs)
    n_b = rng.poisson(900, runs)
    per_c = rng.multinomial(n_c, probs(canary_scale))
    per_b = rng.multinomial(n_b, probs(1.0))
    return np.cumsum(per_c, axis=1), np.cumsum(per_b, axis=1)


def test_a_slower_canary_is_rejected_and_an_identical_one_is_not():
    rng = np.random.default_rng(3)
    runs, looks = 200, 150
    slow = HistogramTest(boundaries=[0.25, 0.5, 1.0])
    same = HistogramTest(boundaries=[0.25, 0.5, 1.0])
    for _ in range(looks):
        c, b = _looks(rng, runs, canary_scale=1.5)
        r_slow = slow.update(le=LE, canary_buckets=c, baseline_buckets=b)
        c, b = _looks(rng, runs, canary_scale=1.0)
        r_same = same.update(le=LE, canary_buckets=c, baseline_buckets=b)
    assert r_slow.rejected.mean() >= 0.95
    limit = 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)
    assert r_same.rejected.mean() <= limit
    # the estimate at the worst boundary points the right way
    assert np.median(r_slow.estimate) > 1.2


def test_a_faster_canary_is_not_rejected():
    rng = np.random.default_rng(4)
    test = HistogramTest(boundaries=[0.25, 0.5, 1.0])
    for _ in range(100):
        c, b = _looks(rng, 50, canary_scale=0.7)
        r = test.update(le=LE, canary_buckets=c, baseline_buckets=b)
    assert not r.rejected.any()


def test_a_look_reported_as_no_data_is_not_evidence_at_any_boundary():
    """A bucket above the total (a scrape between bucket reads) makes the look unusable:
    it is reported as no data, so it must not move the e-value through the boundaries
    whose counts happened to look fine."""
    le = [0.1, 0.5, INF]
    test = HistogramTest(boundaries=[0.1, 0.5])
    before = test.update(le=le, canary_buckets=[10, 60, 100], baseline_buckets=[12, 70, 100])
    after = test.update(le=le, canary_buckets=[0, 0, 40], baseline_buckets=[0, 50, 40])
    assert after.status == "no_data" and after.reason
    assert after.data_looks == before.data_looks == 1
    assert after.e_value == before.e_value
    assert after.p_value == before.p_value
