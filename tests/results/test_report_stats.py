"""The report's statistics (bench/results/report/stats.py, plain Python) against scipy.stats on fixed numbers."""

from __future__ import annotations

import pytest
from scipy import stats as sp

from bench.results.report.stats import T975, diff_interval, kendall_tau, t_interval, t_quantile, welch

A = [71.2, 73.5, 70.4, 72.8, 74.1]
B = [69.0, 70.3, 68.1]
C = [55.5, 60.25, 57.0, 58.75]


def test_t_table_and_fractional_df_match_scipy():
    assert [round(float(sp.t.ppf(0.975, df)), 6) for df in range(1, 31)] == list(T975)
    for df in (1.3, 2.5, 3.7, 7.3, 29.5, 31, 45.2, 200, 5000):  # Welch's df are fractional
        assert t_quantile(df) == pytest.approx(sp.t.ppf(0.975, df), rel=1e-9)
    assert t_quantile(4, level=0.9) == pytest.approx(sp.t.ppf(0.95, 4), rel=1e-9)
    with pytest.raises(ValueError, match="df > 0"):
        t_quantile(0)


@pytest.mark.parametrize("xs", [A, B, C, [1.0, 2.0]])
def test_t_interval_of_the_mean_matches_scipy(xs):
    mean, half = t_interval(xs)
    lo, hi = sp.t.interval(0.95, len(xs) - 1, loc=sp.tmean(xs), scale=sp.sem(xs))
    assert mean == pytest.approx(sum(xs) / len(xs)) and (mean - half, mean + half) == pytest.approx((lo, hi))


def test_one_seed_has_no_interval():
    assert t_interval([71.3]) == (71.3, None)


@pytest.mark.parametrize(("a", "b"), [(A, B), (B, C), (A, C), ([1.0, 2.0], [1.5, 2.5, 3.0])])
def test_welch_matches_scipy_ttest_ind_unequal_var(a, b):
    got = welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    assert got.t == pytest.approx(ref.statistic) and got.df == pytest.approx(ref.df)
    assert got.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert got.significant == (ref.pvalue < 0.05)
    ci = ref.confidence_interval(0.95)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high))


def test_ratio_contrast_is_welch_on_the_scaled_side():
    """a - c*b: the ratio claims' contrast is Welch's interval with b scaled by c."""
    got, ref = diff_interval(A, B, 0.97), welch(A, [0.97 * x for x in B])
    assert (got.estimate, got.df, got.half) == pytest.approx((ref.estimate, ref.df, ref.half))
    with pytest.raises(ValueError, match=">= 2 values on each side"):
        diff_interval(A, [1.0])


def test_constant_sides_have_no_noise():
    c = welch([2.0, 2.0], [1.0, 1.0])
    assert c.half == 0 and c.significant and c.p == 0.0
    assert not welch([1.0, 1.0], [1.0, 1.0]).significant


@pytest.mark.parametrize(("x", "y"), [([1, 2, 3, 4], [1, 3, 2, 4]), ([1, 2, 3, 3], [1, 3, 2, 4]),
                                      ([5, 1, 4, 2, 3], [50, 10, 40, 30, 20]), ([1, 2, 2, 3], [3, 3, 1, 1])])
def test_kendall_tau_b_matches_scipy(x, y):
    assert kendall_tau(x, y) == pytest.approx(sp.kendalltau(x, y).statistic)


def test_kendall_tau_of_a_constant_side_is_none():
    assert kendall_tau([1, 1, 1], [1, 2, 3]) is None
