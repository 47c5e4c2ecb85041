"""The judgement a report prints above its table: the paper's claims checked on the runs, the row
order against the paper's per column, and which cells are within noise of their column's best.

Every test compares two rows of one column as independent seed sets (stats.diff_interval: Welch's
95% interval, df by Welch–Satterthwaite). A claim is
- `reproduced` when the interval of its contrast lies wholly on the claimed side,
- `contradicted` when it lies wholly on the other side (for one of k comparisons: at 1 - 0.05/k, below),
- `not resolved at <profile>` otherwise: the interval holds 0, a side has fewer than two seeds, or a
  cell has no value.
Parameter counts are exact (no seeds to average), so a params column is judged on its values.
The kinds (conf/report/README.md): `better` (row > than + margin), `not_worse` (row >= than - margin),
`order` (rows, worst first, each better than the one before), `ratio_at_least` (row / than >= ratio,
tested as row - ratio*than >= 0), `ratio_at_most` (row / than <= ratio). `than` may list several rows
and `column` several columns: a claim is reproduced when every comparison is (each at 95%: a claim that
needs all of them needs no correction), contradicted when one is at the Bonferroni level over the
claim's k comparisons (1 - 0.05/k: with ten of them, one at 95% would go against a true claim far more
often than one time in twenty).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.results.report.stats import LEVEL, diff_interval, kendall_tau, welch

if TYPE_CHECKING:
    from bench.results.report.table import Table

REPRODUCED, CONTRADICTED = "reproduced", "contradicted"
BEST, WITHIN, UNRESOLVED = "▲", "≈", "?"  # the marks a cell can carry (render.py explains them)


def unresolved(profile: str | None) -> str:
    return f"not resolved at {profile or 'this profile'}"


@dataclass(frozen=True)
class Verdict:
    text: str  # the claim as the spec words it
    kind: str
    verdict: str  # reproduced / contradicted / not resolved at <profile>
    evidence: str  # the numbers and the test behind the verdict


def _name(lab: tuple) -> str:
    return "/".join(lab)


def _sign(col: dict) -> int:
    return -1 if col["better"] == "lower" else 1


def _fmt(v: float, digits: int) -> str:
    return f"{v:+.{digits}f}".replace("-", "−")


def _compare(table: Table, claim: dict, col: dict, a: tuple, b: tuple, k: int = 1) -> tuple[str, str]:
    """(status, evidence) of one comparison of row a with row b on one column, one of the claim's `k`:
    status is REPRODUCED, CONTRADICTED or "" (not resolved). The raw contrast is a - b (a - ratio*b for
    the ratio kinds); the claim holds when sign*contrast + shift > 0."""
    name, kind, digits = col["name"], claim["kind"], int(col.get("digits", 1)) + 1
    va, vb = table.values.get(a, {}).get(name), table.values.get(b, {}).get(name)
    if va is None or vb is None:
        return "", f"{name}: no measured value for {_name(a if va is None else b)}"
    pa, pb = table.paper_values.get(a, {}).get(name), table.paper_values.get(b, {}).get(name)
    shown = int(col.get("digits", 1))  # published values as the table prints them
    paper = f"; paper {pa:.{shown}f} vs {pb:.{shown}f}" if pa is not None and pb is not None else ""
    if kind in ("ratio_at_least", "ratio_at_most"):
        c_ratio, sign, shift = float(claim["ratio"]), (1 if kind == "ratio_at_least" else -1), 0.0
        what = f"{name}: {_name(a)} / {_name(b)} = " + (f"{va / vb:.3f}" if vb else "n/a")
        claimed = f"claimed {'≥' if sign > 0 else '≤'} {c_ratio:g}"
        contrast = f"{_name(a)} − {c_ratio:g}×{_name(b)}"
    else:
        c_ratio, sign = 1.0, _sign(col)
        strict = kind in ("better", "order")  # order: each row better than the one before it
        shift = -float(claim["margin"]) if strict else float(claim["margin"])
        what = f"{name}: {_name(a)} − {_name(b)} = {_fmt(va - vb, digits)}" + (" (lower is better)" if sign < 0 else "")
        op = (">" if strict else "≥") if sign > 0 else ("<" if strict else "≤")
        claimed = f"claimed {op} {_fmt(-shift * sign, digits) if shift else '0'}"
        contrast = ""
    est = va - c_ratio * vb
    if col["kind"] == "params":  # exact counts: no noise to test
        margin_left = sign * est + shift
        ok = margin_left > 0 or (margin_left == 0 and kind not in ("better", "order"))
        return (REPRODUCED if ok else CONTRADICTED), f"{what}, {claimed} (exact counts){paper}"
    sa, sb = table.samples.get(a, {}).get(name) or {}, table.samples.get(b, {}).get(name) or {}
    if not sa or not sb:  # a mean_of cell whose columns have no seed in common has no per-seed value
        return "", f"{what}, {claimed}: no per-seed values to test (its columns have no seed in common){paper}"
    if len(sa) < 2 or len(sb) < 2:
        return "", f"{what}, {claimed}: too few seeds to test (n={len(sa)}/{len(sb)}){paper}"
    c = diff_interval(list(sa.values()), list(sb.values()), c_ratio)
    lo, hi = sorted((sign * c.low + shift, sign * c.high + shift))
    status = REPRODUCED if lo > 0 else CONTRADICTED if hi < 0 else ""
    df = "∞" if c.se == 0 else f"{c.df:.1f}"
    ci = f"95% CI{' of ' + contrast if contrast else ''} {_fmt(c.low, digits)} to {_fmt(c.high, digits)}"
    if status == CONTRADICTED and k > 1 and c.se > 0:
        level = 1 - (1 - LEVEL) / k
        half = c.half_at(level)
        if max(sign * (c.estimate - half), sign * (c.estimate + half)) + shift >= 0:
            status = ""
        ci += (f"; {level:.1%} CI (Bonferroni, {k} comparisons) {_fmt(c.estimate - half, digits)} to "
               f"{_fmt(c.estimate + half, digits)}")
    return status, f"{what}, {claimed}: {ci} (Welch, df {df}, n={len(sa)}/{len(sb)}){paper}"


def _pairs(claim: dict) -> list[tuple[tuple, tuple]]:
    if claim["kind"] == "order":  # worst first: each row against the one before it
        return [(b, a) for a, b in zip(claim["rows"], claim["rows"][1:])]
    return [(claim["row"][0], than) for than in claim["than"]]


def judge(table: Table, claim: dict) -> Verdict:
    """One claim's verdict on the table, with every comparison behind it."""
    cols = {c["name"]: c for c in table.spec["columns"]}
    pairs = [(name, a, b) for name in claim["columns"] for a, b in _pairs(claim)]
    results = [_compare(table, claim, cols[name], a, b, len(pairs)) for name, a, b in pairs]
    statuses = [s for s, _ in results]
    if statuses and all(s == REPRODUCED for s in statuses):
        verdict = REPRODUCED
    elif CONTRADICTED in statuses:
        verdict = CONTRADICTED
    else:
        verdict = unresolved(table.profile)
    test = claim["kind"] + (f", margin {claim['margin']:g}" if claim["margin"] else "")
    if len(results) > 1:
        n_ok, n_bad = statuses.count(REPRODUCED), statuses.count(CONTRADICTED)
        test += (f" ({len(results)} comparisons: {n_ok} reproduced, {n_bad} contradicted, "
                 f"{len(results) - n_ok - n_bad} not resolved)")
    return Verdict(claim["text"], claim["kind"], verdict, f"{test}: " + "; ".join(dict.fromkeys(e for _, e in results)))


def judge_all(table: Table) -> list[Verdict]:
    return [judge(table, claim) for claim in table.spec.get("claims", [])]


def noise_marks(spec: dict, values: Mapping[tuple, Mapping[str, float | None]],
                samples: Mapping[tuple, Mapping[str, Mapping[str, float] | None]]) -> dict[tuple[tuple, str], str]:
    """{(row, column): mark} per measured column with a direction and two rows or more: the best row
    (BEST), a row whose difference from the best is not significant (Welch, 95%: WITHIN), and a row
    that cannot be compared because it or the best row has fewer than two seeds (UNRESOLVED)."""
    marks: dict[tuple[tuple, str], str] = {}
    for col in spec["columns"]:
        name = col["name"]
        if col["kind"] not in ("metrics", "mean_of") or col["better"] == "none":
            continue
        rows = [lab for lab in values if values[lab].get(name) is not None]
        if len(rows) < 2:
            continue
        best = max(rows, key=lambda lab: _sign(col) * values[lab][name])
        marks[(best, name)] = BEST
        sb = samples.get(best, {}).get(name) or {}
        for lab in rows:
            if lab == best:
                continue
            s = samples.get(lab, {}).get(name) or {}
            if len(s) < 2 or len(sb) < 2:
                marks[(lab, name)] = UNRESOLVED
            elif not welch(list(s.values()), list(sb.values())).significant:
                marks[(lab, name)] = WITHIN
    return marks


def orderings(table: Table) -> list[str]:
    """Per column with published values: does the measured order of the rows agree with the paper's?
    Kendall's tau-b over the rows with both numbers (three rows or more); with two rows, whether the
    sign of the difference matches and lies outside the noise."""
    out = []
    for col in table.spec["columns"]:
        name = col["name"]
        if not col["paper"] or col["kind"] in ("params", "ratio_of"):
            continue
        rows = [lab for lab in table.values if table.values[lab].get(name) is not None
                and table.paper_values.get(lab, {}).get(name) is not None]
        if len(rows) >= 3:
            out.append(f"{name}: " + _many_rows(table, name, rows))
        elif len(rows) == 2:
            out.append(f"{name}: " + _two_rows(table, name, *rows))
    return out


def _pair(table: Table, name: str, a: tuple, b: tuple):
    """(same sign as the paper?, the Welch test of a − b, or None when a row has fewer than two seeds)."""
    paper = table.paper_values[a][name] - table.paper_values[b][name]
    measured = table.values[a][name] - table.values[b][name]
    same = (paper > 0) == (measured > 0) and paper != 0 and measured != 0
    sa, sb = table.samples.get(a, {}).get(name) or {}, table.samples.get(b, {}).get(name) or {}
    return same, (welch(list(sa.values()), list(sb.values())) if len(sa) >= 2 and len(sb) >= 2 else None)


def _two_rows(table: Table, name: str, a: tuple, b: tuple) -> str:
    paper = table.paper_values[a][name] - table.paper_values[b][name]
    measured = table.values[a][name] - table.values[b][name]
    head = f"{_name(a)} − {_name(b)}: paper {_fmt(paper, 1)}, measured {_fmt(measured, 2)}"
    same, c = _pair(table, name, a, b)
    if c is None:
        sa, sb = table.samples.get(a, {}).get(name) or {}, table.samples.get(b, {}).get(name) or {}
        return f"{head}: {'same' if same else 'opposite'} sign, noise not resolved (n={len(sa)}/{len(sb)})"
    ci = f"95% CI {_fmt(c.low, 2)} to {_fmt(c.high, 2)}"
    if not c.significant:
        return f"{head} ({ci}): within noise, not resolved"
    return f"{head} ({ci}): {'agrees' if same else 'disagrees'} with the paper"


def _many_rows(table: Table, name: str, rows: list[tuple]) -> str:
    """Kendall's tau-b of the means, then each pair of rows the paper orders, tested as two rows are (Welch) at
    the Bonferroni level over the pairs tested: the verdict reads only the pairs outside the noise, so seed noise
    cannot make an order, nor one lucky pair among fifteen."""
    tau = kendall_tau([table.values[r][name] for r in rows], [table.paper_values[r][name] for r in rows])
    head = f"Kendall's τ = {'n/a (a side is constant)' if tau is None else _fmt(tau, 2)} over {len(rows)} rows"
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1:]
             if table.paper_values[a][name] != table.paper_values[b][name]]  # a published tie orders nothing
    tested = [t for t in (_pair(table, name, a, b) for a, b in pairs) if t[1] is not None]
    level = 1 - (1 - LEVEL) / max(len(tested), 1)
    agree = against = 0
    for same, c in tested:
        if abs(c.estimate) > c.half_at(level):
            agree, against = (agree + 1, against) if same else (agree, against + 1)
    unresolved = len(pairs) - len(tested)
    if not pairs:
        return f"{head}: the paper orders no pair"
    counts = (f"{len(pairs)} pairs the paper orders, each tested at {level:.1%}"
              + (f" (Bonferroni over {len(tested)})" if len(tested) > 1 else "")
              + f": {agree} as the paper and {against} against it outside the noise, "
              f"{len(tested) - agree - against} within it"
              + (f", {unresolved} with a row of fewer than two seeds" if unresolved else ""))
    if not tested:
        verdict = "noise not resolved (too few seeds)"
    elif agree and against:
        verdict = "mixed"
    elif agree or against:
        verdict = f"the pairs outside the noise {'agree' if agree else 'disagree'} with the paper"
    else:
        verdict = "within noise, not resolved"
    return f"{head} ({counts}): {verdict}"
