"""One measured cell: the mean over seeds of a summary key, its 95% t-interval and n, and the runs' states."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from bench.results.report.spec import glue_task_metrics
from bench.results.report.stats import t_interval


@dataclass
class Cell:
    text: str
    value: float | None = None  # the headline number (first metric), for derived columns and figures
    flagged: bool = False
    low: float | None = None  # the headline metric's 95% t-interval of the mean (several seeds only): error bars
    high: float | None = None
    samples: dict[str, float] | None = None  # seed -> the headline value of that seed (noise marks, claims)


def as_text(v) -> str:
    """A config value as a label: 768.0 -> '768'."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def as_number(v) -> float | None:
    """A finite float, or None for anything else (text, booleans, NaN, missing)."""
    if isinstance(v, bool) or is_missing(v):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt_params(n: float) -> str:
    """Like the papers: 12M, 108M, 1270M; small counts keep two significant decimals (0.42M)."""
    m = n / 1e6
    if m >= 10:
        return f"{m:.0f}M"
    if m >= 1:
        return f"{m:.1f}M"
    return f"{m:.2f}M"


def fmt(v: float, digits: int) -> str:
    return f"{v:.{digits}f}"


def seed_of(run: Mapping) -> str:
    s = run.get("config.seed")
    return "?" if is_missing(s) else as_text(s)


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _per_run_value(run: Mapping, col: dict) -> tuple | None:
    vals = [as_number(run.get(f"summary.{k}")) for k in col["metrics"]]
    if any(v is None for v in vals):
        return None
    if col.get("combine") == "glue":  # the task's GLUE score, membership from conf/task
        from lightning_modules.metrics.glue import glue_score  # lazy: it loads torch

        task = col["metrics"][0].split("/", 1)[0]
        results = {task: {k.split("/", 1)[1]: v for k, v in zip(col["metrics"], vals)}}
        return (glue_score(results, glue_task_metrics()),)
    if col.get("combine") == "mean":
        return (sum(vals) / len(vals),)
    return tuple(vals)


def metric_cell(runs: list[dict], col: dict, notes: dict) -> Cell:
    """Mean over seeds of the newest finished run per seed: `71.3 ± 1.2 (n=3)`, the 95% t-interval of
    the headline (first) metric's mean; `71.3 (n=1)` for one seed. Several metrics print as `a/b`
    (each its mean) with the headline's interval. Parameter counts are exact: the median, no interval.

    `runs` are the cell's runs as records (frame rows as dicts), oldest first.
    """
    digits = int(col.get("digits", 1))
    done = [r for r in runs if r["state"] == "finished"]
    if col["kind"] == "params":
        vals = [v for v in (as_number(r.get(f"summary.{col['params']}")) for r in done) if v is not None]
        if vals:
            med = median(vals)
            return Cell(fmt_params(med), med)
        return _empty_cell(runs, done, col, notes)
    per_seed: dict[str, tuple] = {}
    for r in done:  # oldest first: the newest finished run of a seed wins
        v = _per_run_value(r, col)
        if v is not None:
            per_seed[seed_of(r)] = v
    if not per_seed:
        return _empty_cell(runs, done, col, notes)
    lost = {seed_of(r) for r in runs if r["state"] != "finished"} - set(per_seed)
    seeds = sorted(per_seed)
    per_metric = list(zip(*(per_seed[k] for k in seeds)))
    means = [sum(m) / len(m) for m in per_metric]
    samples = {k: per_seed[k][0] for k in seeds}
    return seed_cell(means, samples, digits, lost=bool(lost))


def seed_cell(means: list[float], samples: dict[str, float], digits: int, lost: bool = False) -> Cell:
    """A cell of per-seed values: the means (`a/b` when several), the headline's interval and n."""
    head, half = t_interval(list(samples.values()))
    text = "/".join(fmt(m, digits) for m in means)
    low = high = None
    if half is not None:
        text += f" ± {fmt(half, digits)}"
        low, high = head - half, head + half
    text += f" (n={len(samples)})"
    return Cell(text + ("*" if lost else ""), means[0], lost, low, high, samples)


def _empty_cell(runs: list[dict], done: list[dict], col: dict, notes: dict) -> Cell:
    """No value: finished runs without the key are a spec/config mismatch (named in the notes);
    otherwise the cell shows the state of its runs, or `missing` when it has none."""
    if done:
        keys = [col["params"]] if col["kind"] == "params" else col["metrics"]
        notes.setdefault("nokey", []).append(f"{col['name']}: {len(done)} finished run(s) lack {', '.join(keys)}")
        return Cell("missing")
    bad = sorted({r["state"] for r in runs if r["state"] != "finished"})
    return Cell(", ".join(bad) if bad else "missing")


def mean_cell(row_cells: Mapping[str, Cell], col: dict) -> Cell:
    """A `mean_of` column: the mean of earlier columns' headline values in the same row. Each seed that every
    input has gives a sample (the mean of its values), so the cell is their mean, interval and n; a seed that
    some input lacks (a failed job) is left out and the cell flagged `*`, so one lost job does not take the
    interval of a whole row away. With fewer than two common seeds (of several), the mean of the means, flagged."""
    digits = int(col.get("digits", 1))
    cells = [row_cells[name] for name in col["mean_of"]]
    if any(c.value is None for c in cells):
        return Cell("n/a")
    lost = any(c.flagged for c in cells)
    if all(c.samples for c in cells):
        seed_sets = [set(c.samples) for c in cells]
        seeds, every = sorted(set.intersection(*seed_sets)), set.union(*seed_sets)
        lost = lost or len(seeds) < len(every)
        if len(seeds) >= 2 or (seeds and len(every) == 1):
            samples = {k: sum(c.samples[k] for c in cells) / len(cells) for k in seeds}
            return seed_cell([sum(samples.values()) / len(samples)], samples, digits, lost=lost)
    v = sum(c.value for c in cells) / len(cells)  # fewer than two common seeds: the mean of the means, no interval
    return Cell(fmt(v, digits) + ("*" if lost else ""), v, lost)
