"""The statistics a report prints, in plain Python (scipy is a dev extra only; tests check these against it).

- `t_interval`: the mean over seeds and the half-width of its 95% Student-t interval.
- `welch`: Welch's t-test of two seed sets (unequal variances, Welch–Satterthwaite df): the runs of
  two rows share a seed only loosely (pretraining and fine-tuning both reseeded), so rows are
  compared as independent samples.
- `diff_interval`: the 95% interval of a linear contrast `a - c*b` of two means (Welch df), which is
  what every claim test reduces to (c = 1 for differences, c = the ratio for ratio claims).
- `kendall_tau`: Kendall's tau-b (ties counted as scipy.stats.kendalltau does).

t quantiles: a table of t_{0.975, df} for df = 1..30 (the common seed counts), and for any other df
(Welch's are fractional) the exact value from the t distribution's CDF through the regularized
incomplete beta function (continued fraction), inverted by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LEVEL = 0.95
# t_{0.975, df}, df = 1..30 (scipy.stats.t.ppf(0.975, df), 6 decimals)
T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
        2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
        2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def variance(xs: Sequence[float]) -> float:
    """The sample variance (n - 1 in the denominator); 0 for a single value."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf2(t: float, df: float) -> float:
    """The two-sided p-value P(|T| >= |t|) of Student's t with `df` (fractional) degrees of freedom."""
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(df: float, level: float = LEVEL) -> float:
    """The two-sided critical value: P(|T| <= q) = level. Table for whole df 1..30 at 95%, else exact."""
    if df <= 0:
        raise ValueError(f"t quantile needs df > 0, got {df}")
    if level == LEVEL and float(df).is_integer() and 1 <= df <= len(T975):
        return T975[int(df) - 1]
    lo, hi = 0.0, 1.0
    while t_sf2(hi, df) > 1.0 - level:
        hi *= 2.0
    for _ in range(100):  # bisection: the p-value falls monotonically in |t|
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_sf2(mid, df) > 1.0 - level else (lo, mid)
    return (lo + hi) / 2.0


def t_interval(xs: Sequence[float]) -> tuple[float, float | None]:
    """(mean, half-width of the 95% t-interval of the mean); the half-width is None for one value."""
    m = mean(xs)
    if len(xs) < 2:
        return m, None
    return m, t_quantile(len(xs) - 1) * math.sqrt(variance(xs) / len(xs))


@dataclass(frozen=True)
class Contrast:
    """The 95% interval of a - c*b for two independent seed sets (Welch–Satterthwaite df)."""
    estimate: float
    se: float
    df: float
    half: float  # half-width of the 95% interval

    @property
    def low(self) -> float:
        return self.estimate - self.half

    @property
    def high(self) -> float:
        return self.estimate + self.half

    @property
    def t(self) -> float:
        return self.estimate / self.se if self.se > 0 else math.copysign(math.inf, self.estimate) if self.estimate else 0.0

    @property
    def p(self) -> float:
        """Two-sided p-value of estimate = 0."""
        if self.se == 0:
            return 1.0 if self.estimate == 0 else 0.0
        return t_sf2(self.t, self.df)

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (a two-sided test at 5%)."""
        return self.low > 0 or self.high < 0

    def half_at(self, level: float) -> float:
        """The half-width of the interval at another two-sided `level` (a Bonferroni-corrected one, say)."""
        return t_quantile(self.df, level) * self.se if self.se > 0 else 0.0


def diff_interval(a: Sequence[float], b: Sequence[float], c: float = 1.0) -> Contrast:
    """The contrast mean(a) - c*mean(b); both sets need at least two values."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a Welch interval needs >= 2 values on each side, got {len(a)} and {len(b)}")
    va, vb = variance(a) / len(a), c * c * variance(b) / len(b)
    est = mean(a) - c * mean(b)
    se2 = va + vb
    if se2 == 0:  # both sets constant: no noise measured, the estimate stands as it is
        return Contrast(est, 0.0, math.inf, 0.0)
    df = se2 * se2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
    se = math.sqrt(se2)
    return Contrast(est, se, df, t_quantile(df) * se)


def welch(a: Sequence[float], b: Sequence[float]) -> Contrast:
    """Welch's t-test of mean(a) = mean(b) (as scipy.stats.ttest_ind(a, b, equal_var=False))."""
    return diff_interval(a, b)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of paired values; None when fewer than two pairs or one side is constant."""
    if len(x) != len(y):
        raise ValueError("kendall_tau needs paired values")
    conc = disc = tie_x = tie_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tie_x += 1
            elif dy == 0:
                tie_y += 1
            elif (dx > 0) == (dy > 0):
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tie_x) * (conc + disc + tie_y))
    return (conc - disc) / denom if denom else None
