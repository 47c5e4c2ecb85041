"""W&B runs -> one markdown table (+ figure) per paper table, measured beside published.

    bench-report experiment=albert_sharing [runs=multirun,outputs] [out=reports] [online=entity/project] [profile=tiny]
    bench-report all

A report is a spec, not code: `conf/report/<table>.yaml` says which runs (W&B group, job types,
config filters), the row keys (config keys, mapped to the paper CSV's row labels), the columns
(summary keys, formats, derived means), the paper CSV and the figure. The generator only reads
the runs (`bench.results.runs`), so a report can always be regenerated from W&B alone.

Rules the tables keep:
- a cell is the median over seeds of the newest finished run of each seed, with (min-max) when
  there is more than one seed; failed, crashed, diverged and unreadable runs are never averaged,
  they are listed by name; a cell with runs but no finished one shows their state, a cell with no
  run shows `missing`;
- one profile per report (the newest run's unless `profile=` is given); the tiny profile is named
  in the title and the caption;
- re-running on the same runs gives byte-identical files (no wall-clock time: the date is the
  newest run's start; the PNG carries no version or time metadata); writes are atomic, and a
  report whose runs cannot be read, or that has no runs, is left as it was.
"""

from __future__ import annotations

import io
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from bench.io import CONF_DIR, PAPER_DIR, atomic_write_bytes, atomic_write_text
from bench.results.runfile import RunFileError
from bench.results.runs import read_runs

SPEC_DIR = CONF_DIR / "report"
NOT_TABLES = {"parameters"}  # specs of other writers (bench-census)
NOT_FINISHED = ("failed", "crashed", "diverged", "corrupt", "running")
SPEC_KEYS = {"title", "source", "description", "paper", "paper_note", "runs", "rows", "expect", "paper_only",
             "paper_info", "columns", "caption", "figure", "example"}
COLUMN_KEYS = {"name", "metrics", "params", "mean_of", "ratio_of", "to_row", "task", "job_type", "where", "combine", "digits", "paper",
               "paper_unit", "note"}
DEFAULT_RUNS = ("multirun", "outputs")


class SpecError(ValueError):
    """A table spec that cannot be used; the message names the file and the key."""


# ---------------------------------------------------------------------------------------------
# Specs and paper CSVs


def table_names() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml") if p.stem not in NOT_TABLES)


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def load_spec(name: str, spec_dir: Path = SPEC_DIR) -> dict:
    """Read and check `conf/report/<name>.yaml` (unknown keys and dangling names are errors)."""
    path = spec_dir / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(p.stem for p in sorted(spec_dir.glob("*.yaml")) if p.stem not in NOT_TABLES)
        raise SpecError(f"no report spec {path} (known: {known})")
    spec = yaml.safe_load(path.read_text()) or {}
    where = str(path)
    if unknown := set(spec) - SPEC_KEYS:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(SPEC_KEYS)})")
    for key in ("title", "rows", "columns"):
        if key not in spec:
            raise SpecError(f"{where}: missing key {key!r}")
    spec["name"] = name
    spec["path"] = where
    runs = spec.setdefault("runs", {})
    runs.setdefault("group", name)
    runs["job_type"] = _as_list(runs.get("job_type"))
    runs["where"] = dict(runs.get("where") or {})
    for i, row in enumerate(spec["rows"]):
        if "key" not in row or "label" not in row:
            raise SpecError(f"{where}: rows[{i}] needs 'key' (config key) and 'label' (row label / paper column)")
        row["key"] = _as_list(row["key"])
        row["map"] = {str(k): str(v) for k, v in (row.get("map") or {}).items()}
    names = set()
    for i, col in enumerate(spec["columns"]):
        if unknown := set(col) - COLUMN_KEYS:
            raise SpecError(f"{where}: columns[{i}] unknown key(s) {sorted(unknown)} (known: {sorted(COLUMN_KEYS)})")
        if "name" not in col:
            raise SpecError(f"{where}: columns[{i}] needs a 'name'")
        kinds = [k for k in ("metrics", "params", "mean_of", "ratio_of") if k in col]
        if len(kinds) != 1:
            raise SpecError(f"{where}: column {col['name']!r} needs exactly one of metrics / params / mean_of / ratio_of")
        if "ratio_of" in col and (col["ratio_of"] not in names or "to_row" not in col):
            raise SpecError(f"{where}: column {col['name']!r}: ratio_of must name an earlier column, with to_row")
        col["kind"] = kinds[0]
        col["metrics"] = _as_list(col.get("metrics"))
        col["paper"] = _as_list(col.get("paper"))
        col["job_type"] = _as_list(col.get("job_type"))
        col["where"] = dict(col.get("where") or {})
        if col.get("task"):
            col["where"]["task.name"] = col["task"]
        if col.get("combine") not in (None, "glue", "mean"):
            raise SpecError(f"{where}: column {col['name']!r}: combine must be glue or mean")
        for ref in _as_list(col.get("mean_of")):
            if ref not in names:
                raise SpecError(f"{where}: column {col['name']!r}: mean_of names {ref!r}, not an earlier column")
        names.add(col["name"])
    fig = spec.get("figure")
    labels = [r["label"] for r in spec["rows"]]
    if fig:
        if fig.get("x") not in labels or (fig.get("series") and fig["series"] not in labels):
            raise SpecError(f"{where}: figure x/series must be row labels ({labels})")
        if fig.get("y") not in names:
            raise SpecError(f"{where}: figure y {fig.get('y')!r} is not a column")
    return spec


def load_paper(spec: dict) -> pd.DataFrame | None:
    """The paper CSV as text (printed values kept as printed), columns checked against the spec."""
    if not spec.get("paper"):
        return None
    path = PAPER_DIR / spec["paper"]
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    wanted = [r["label"] for r in spec["rows"]] + _as_list(spec.get("paper_info"))
    wanted += [c for col in spec["columns"] for c in col["paper"]]
    if missing := [c for c in wanted if c not in table.columns]:
        raise SpecError(f"{spec['path']}: paper CSV {path} has no column(s) {missing} (columns: {list(table.columns)})")
    return table


# ---------------------------------------------------------------------------------------------
# Cells


def _text(v) -> str:
    """A config value as a label: 768.0 -> '768'."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _number(v) -> float | None:
    if isinstance(v, bool) or _missing(v):
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


@dataclass
class Cell:
    text: str
    value: float | None = None  # the headline number (first metric), for derived columns and figures
    flagged: bool = False


@dataclass
class Table:
    spec: dict
    profile: str | None
    labels: list[str]
    info: list[str]
    header: list[str]
    rows: list[list[str]]
    values: dict[tuple, dict[str, float | None]]  # row label tuple -> column -> headline value
    paper_values: dict[tuple, dict[str, float | None]]
    notes: list[str] = field(default_factory=list)


def _fmt(v: float, digits: int) -> str:
    return f"{v:.{digits}f}"


def _run_label(run: Mapping) -> str:
    name = run.get("name")
    name = run["run_id"] if _missing(name) or not name else name
    return f"`{name}` (run {run['run_id']})" if name != run["run_id"] else f"run `{run['run_id']}`"


def _seed(run: Mapping) -> str:
    s = run.get("config.seed")
    return "?" if _missing(s) else _text(s)


def _per_run_value(run: Mapping, col: dict) -> tuple | None:
    vals = [_number(run.get(f"summary.{k}")) for k in col["metrics"]]
    if any(v is None for v in vals):
        return None
    if col.get("combine") == "glue":  # the task's GLUE score, by the suite's one convention
        from lightning_modules.metrics.glue import glue_score

        task = col["metrics"][0].split("/", 1)[0]
        return (glue_score({task: {k.split("/", 1)[1]: v for k, v in zip(col["metrics"], vals)}}),)
    if col.get("combine") == "mean":
        return (sum(vals) / len(vals),)
    return tuple(vals)


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def metric_cell(runs: list[dict], col: dict, notes: dict) -> Cell:
    """Median over seeds of the newest finished run per seed (min-max when several seeds).

    `runs` are the cell's runs as records (frame rows as dicts), oldest first.
    """
    digits = int(col.get("digits", 1))
    done = [r for r in runs if r["state"] == "finished"]
    if col["kind"] == "params":
        vals = [v for v in (_number(r.get(f"summary.{col['params']}")) for r in done) if v is not None]
        if vals:
            med = _median(vals)
            return Cell(fmt_params(med), med)
        return _empty_cell(runs, done, col, notes)
    per_seed: dict[str, tuple] = {}
    for r in done:  # oldest first: the newest finished run of a seed wins
        v = _per_run_value(r, col)
        if v is not None:
            per_seed[_seed(r)] = v
    if not per_seed:
        return _empty_cell(runs, done, col, notes)
    lost = {_seed(r) for r in runs if r["state"] != "finished"} - set(per_seed)
    per_metric = list(zip(*(per_seed[k] for k in sorted(per_seed))))
    meds = [_median(m) for m in per_metric]
    text = "/".join(_fmt(m, digits) for m in meds)
    if len(per_seed) > 1:
        text += " (" + "/".join(f"{_fmt(min(m), digits)}–{_fmt(max(m), digits)}" for m in per_metric) + ")"
    return Cell(text + ("*" if lost else ""), meds[0], bool(lost))


def _empty_cell(runs: list[dict], done: list[dict], col: dict, notes: dict) -> Cell:
    """No value: finished runs without the key are a spec/config mismatch (named in the notes);
    otherwise the cell shows the state of its runs, or `missing` when it has none."""
    if done:
        keys = [col["params"]] if col["kind"] == "params" else col["metrics"]
        notes.setdefault("nokey", []).append(f"{col['name']}: {len(done)} finished run(s) lack {', '.join(keys)}")
        return Cell("missing")
    bad = sorted({r["state"] for r in runs if r["state"] != "finished"})
    return Cell(", ".join(bad) if bad else "missing")


def _mean_cell(row_cells: dict[str, Cell], col: dict) -> Cell:
    digits = int(col.get("digits", 1))
    inputs = [row_cells[name].value for name in col["mean_of"]]
    if any(v is None for v in inputs):
        return Cell("n/a")
    v = sum(inputs) / len(inputs)
    return Cell(_fmt(v, digits), v)


# ---------------------------------------------------------------------------------------------
# Selecting runs, building the table


def _profile_of(frame: pd.DataFrame) -> pd.Series:
    prof = frame["config.profile.name"] if "config.profile.name" in frame else pd.Series(None, index=frame.index)
    if "summary.profile" in frame:
        prof = prof.where(prof.notna(), frame["summary.profile"])
    return prof


def _where(frame: pd.DataFrame, where: Mapping) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for key, want in where.items():
        col = f"config.{key}"
        wanted = {_text(w) for w in _as_list(want)}
        mask &= frame[col].map(lambda v, w=wanted: not _missing(v) and _text(v) in w) if col in frame else False
    return mask


def select_runs(spec: dict, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the table's runs, runs whose group could not be read: they may belong to any table)."""
    if runs.empty:
        return runs, runs
    r = spec["runs"]
    unknown = runs[runs["group"].isna()]
    mine = runs[runs["group"] == r["group"]]
    if r["job_type"]:
        mine = mine[mine["job_type"].isin(r["job_type"]) | mine["job_type"].isna()]
    if r["where"]:  # runs whose config could not be read (corrupt, killed early) stay if not finished
        cols = [f"config.{k}" for k in r["where"] if f"config.{k}" in mine]
        unreadable = mine[cols].isna().all(axis=1) if cols else pd.Series(True, index=mine.index)
        mine = mine[_where(mine, r["where"]) | (unreadable & mine["state"].isin(NOT_FINISHED))]
    return mine, unknown


def _record_where(run: Mapping, where: Mapping) -> bool:
    for key, want in where.items():
        v = run.get(f"config.{key}")
        if _missing(v) or _text(v) not in {_text(w) for w in _as_list(want)}:
            return False
    return True


def _row_label(run: Mapping, spec: dict) -> tuple | None:
    label = []
    for row in spec["rows"]:
        vals = [run.get(f"config.{k}") for k in row["key"]]
        if any(_missing(v) for v in vals):
            return None
        raw = ",".join(_text(v) for v in vals)
        label.append(row["map"].get(raw, raw))
    return tuple(label)


def _sort_labels(labels: Sequence[tuple]) -> list[tuple]:
    def key(t):
        return tuple((0, float(x), "") if _number(x) is not None else (1, 0.0, x) for x in t)

    return sorted(labels, key=key)


def build_table(spec: dict, runs: pd.DataFrame, profile: str | None = None) -> Table | None:
    """The table for the runs of one spec, or None when no run belongs to it."""
    mine, unknown = select_runs(spec, runs)
    if mine.empty:
        return None
    profiles = _profile_of(mine)
    if profile is None:
        known = mine[profiles.notna()]
        profile = str(_profile_of(known.sort_values("start_time", kind="stable").tail(1)).iloc[0]) if len(known) else None
    other = mine[profiles.notna() & (profiles != profile)] if profile is not None else mine.iloc[0:0]
    mine = mine[profiles.isna() | (profiles == profile)] if profile is not None else mine
    if mine.empty:
        return None
    paper = load_paper(spec)
    labels = [r["label"] for r in spec["rows"]]
    info = _as_list(spec.get("paper_info"))
    paper_rows: dict[tuple, pd.Series] = {}
    if paper is not None:
        for _, prow in paper.iterrows():
            paper_rows[tuple(prow[c] for c in labels)] = prow
    mine = mine.sort_values(["start_time", "run_id"], kind="stable", na_position="first")
    records = mine.to_dict("records")
    row_of = [_row_label(run, spec) for run in records]
    by_row: dict[tuple, list[dict]] = {}
    for run, lab in zip(records, row_of):
        if lab is not None:
            by_row.setdefault(lab, []).append(run)
    paper_only = {_label_tuple(p) for p in _as_list(spec.get("paper_only"))}
    expected = list(paper_rows) + [t for t in map(_label_tuple, _as_list(spec.get("expect"))) if t not in paper_rows]
    order = expected + _sort_labels([lab for lab in by_row if lab not in expected])

    notes: dict[str, list] = {}
    header = labels + [f"{c} (paper)" for c in info]
    # a column with no published counterpart gets no "(paper)" column, except in a table whose
    # paper gives no numbers at all: there every published column is shown empty, with a note
    shown = {col["name"]: bool(col["paper"]) or not spec.get("paper") for col in spec["columns"]}
    for col in spec["columns"]:
        header += [col["name"]] + ([f"{col['name']} (paper)"] if shown[col["name"]] else [])
    rows, values, paper_values, missing_cells = [], {}, {}, []
    for lab in order:
        prow = paper_rows.get(lab)
        line = list(lab) + [prow[c] if prow is not None else "" for c in info]
        in_row = by_row.get(lab, [])
        cells: dict[str, Cell] = {}
        row_missing: list[str] = []
        values[lab], paper_values[lab] = {}, {}
        for col in spec["columns"]:
            if lab in paper_only:
                cell = Cell("—")
            elif col["kind"] == "mean_of":
                cell = _mean_cell(cells, col)
            elif col["kind"] == "ratio_of":
                cell = Cell("n/a")  # filled below, once the reference row is known
            else:
                sel = [r for r in in_row if (not col["job_type"] or r["job_type"] in col["job_type"])
                       and _record_where(r, col["where"])]
                cell = metric_cell(sel, col, notes)
                if cell.text == "missing":
                    row_missing.append(col["name"])
            cells[col["name"]] = cell
            values[lab][col["name"]] = cell.value
            ptext = ""
            if prow is not None and col["paper"]:
                ptext = "/".join(prow[c] for c in col["paper"])
                if ptext.replace("/", "") and col.get("paper_unit"):
                    ptext += col["paper_unit"]
                paper_values[lab][col["name"]] = _number(prow[col["paper"][0]])
            line += [cell.text] + ([ptext] if shown[col["name"]] else [])
        rows.append(line)
        if row_missing:
            every = len(row_missing) == sum(c["kind"] not in ("mean_of", "ratio_of") for c in spec["columns"])
            missing_cells.append(f"{_label_text(labels, lab)} ({'every column' if every else ', '.join(row_missing)})")

    _fill_ratios(spec, order, rows, values, paper_values, shown, len(labels) + len(info))
    table = Table(spec, profile, labels, info, header, rows, values, paper_values)
    table.notes = _footnote(spec, mine, records, other, unknown, row_of, missing_cells, notes, profile, labels)
    return table


def _fill_ratios(spec, order, rows, values, paper_values, shown, first: int) -> None:
    """`ratio_of` columns: a row's value of another column over the reference row's (measured in
    the same sweep), and the same ratio of the published numbers."""
    pos = first
    for col in spec["columns"]:
        if col["kind"] == "ratio_of":
            ref = _label_tuple(col["to_row"])
            digits = int(col.get("digits", 2))
            for lab, line in zip(order, rows):
                for vals, offset in ((values, 0), (paper_values, 1)):
                    num, den = vals.get(lab, {}).get(col["ratio_of"]), vals.get(ref, {}).get(col["ratio_of"])
                    if (offset and not shown[col["name"]]) or (not offset and line[pos] == "—"):
                        continue  # no published column / a published-only row
                    ok = num is not None and den not in (None, 0)
                    text = _fmt(num / den, digits) if ok else ("n/a" if not offset else "")
                    line[pos + offset] = text
                    if ok:
                        vals[lab][col["name"]] = num / den
        pos += 1 + shown[col["name"]]


def _label_tuple(x) -> tuple:
    """A row label as the spec writes it: a string (one row key) or a list (several)."""
    return tuple(str(v) for v in (x if isinstance(x, list) else [x]))


def _label_text(labels: list[str], lab: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(labels, lab))


def _rel(p) -> str:
    if _missing(p) or not p:
        return ""
    try:
        return os.path.relpath(str(p))
    except ValueError:
        return str(p)


def _footnote(spec, mine, records, other, unknown, row_of, missing_cells, notes, profile, labels) -> list[str]:
    seeds = sorted({_seed(r) for r in records} - {"?"}, key=lambda s: (_number(s) is None, _number(s) or 0, s))
    counts = mine["state"].value_counts()
    states = ", ".join(f"{counts[s]} {s}" for s in ["finished", *NOT_FINISHED] if s in counts)
    commits = sorted({str(c) for c in mine.get("summary.git_commit", pd.Series(dtype=object)) if not _missing(c)})
    out = [
        f"Profile: **{profile or 'unknown'}**. Seeds: {', '.join(seeds) or 'none recorded'} ({len(seeds)}). "
        f"Runs: {len(mine)} ({states}). Date: {_date(mine)} (start of the newest run). "
        f"Code: {', '.join(commits) or 'git commit not recorded'}.",
    ]
    bad = [(r, lab) for r, lab in zip(records, row_of) if r["state"] != "finished"]
    if bad:
        items = ["Not averaged (failed, crashed, diverged or unreadable runs):", ""]
        for run, lab in bad:
            where = f" [{_label_text(labels, lab)}]" if lab else ""
            why = run.get("summary.error") if run["state"] != "corrupt" else run.get("read_error")
            why = "" if _missing(why) or not why else f": {str(why).splitlines()[0][:160]}"
            items.append(f"- {_run_label(run)}{where}: {run['state']}{why}")
        out.append("\n".join(items))
    unplaced = [r for r, lab in zip(records, row_of) if lab is None and r["state"] == "finished"]
    if unplaced:
        keys = ", ".join(k for row in spec["rows"] for k in row["key"])
        out.append(f"Finished runs without the row keys ({keys}), not placed: "
                   + ", ".join(_run_label(r) for r in unplaced))
    if missing_cells:
        out.append("Missing cells (no run, or no value: see below): " + "; ".join(missing_cells) + ".")
    for line in notes.get("nokey", []):
        out.append(f"Summary key not found: {line}.")
    if len(other):
        prof = _profile_of(other).value_counts().sort_index()
        out.append("Runs at other profiles, not in this table: " + ", ".join(f"{p} ({n})" for p, n in prof.items()) + ".")
    if len(unknown):
        files = ", ".join(f"`{_rel(f)}` ({s})" for f, s in zip(unknown["file"], unknown["state"]))
        out.append(f"Run files whose group could not be read (they may belong here): {files}.")
    return out


def _date(frame: pd.DataFrame) -> str:
    return frame["start_time"].max().strftime("%Y-%m-%d") if frame["start_time"].notna().any() else "unknown"


# ---------------------------------------------------------------------------------------------
# Rendering


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def render_markdown(table: Table, figure_name: str | None = None) -> str:
    spec = table.spec
    tiny = table.profile == "tiny"
    title = spec["title"] + (f" — {table.profile} profile" if table.profile else "")
    caption = [
        f"Measured at the **{table.profile or 'unknown'}** profile beside the published numbers"
        + (f" of {spec['source']}." if spec.get("source") else "."),
    ]
    if tiny:
        caption.append("The tiny profile trains small models on synthetic data on CPU: absolute values are not "
                       "comparable with the paper's, only the comparison between rows is.")
    if spec.get("caption"):
        caption.append(" ".join(str(spec["caption"]).split()))
    if any(c.get("combine") == "glue" for c in spec["columns"]):
        from lightning_modules.metrics.glue import GLUE_SCORE_CONVENTION

        caption.append(GLUE_SCORE_CONVENTION)
    caption.append("Each measured cell is the median over seeds (the newest finished run of each seed), with "
                   "(min–max) when there is more than one seed; `*` marks a cell with a seed that has no finished "
                   "run. A cell whose runs all failed, crashed or diverged shows that state; `missing` = no run; "
                   "`n/a` = a derived value with an input that is not a number; `—` = published only.")
    if not spec.get("paper"):
        caption.append("Published columns are empty: " + " ".join(str(spec.get("paper_note") or
                                                                       "the paper gives no numbers for this table.").split()))
    lines = [f"# {title}", "", " ".join(caption), "", _md_row(table.header),
             _md_row(["---"] * len(table.header))]
    lines += [_md_row(r) for r in table.rows]
    lines.append("")
    if figure_name:
        lines += [f"![{spec['figure']['y']} vs {spec['figure']['x']}]({figure_name})", ""]
    if spec.get("example"):
        lines += _example(spec)
    lines.append("\n\n".join(["**Notes.** " + table.notes[0], *table.notes[1:]]))
    return "\n".join(lines) + "\n"


def _example(spec: dict) -> list[str]:
    ex = spec["example"]
    path = PAPER_DIR / ex["csv"]
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = [f"{ex.get('title', 'The paper’s example')} (`{path.relative_to(CONF_DIR.parent)}`):", "",
           _md_row(df.columns), _md_row(["---"] * len(df.columns))]
    out += [_md_row(r) for r in df.itertuples(index=False)]
    return out + [""]


def render_figure(table: Table) -> bytes | None:
    """The spec's figure (measured solid, paper dashed) as PNG bytes that are the same on every run."""
    fig_spec = table.spec.get("figure")
    if not fig_spec:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xi = table.labels.index(fig_spec["x"])
    si = table.labels.index(fig_spec["series"]) if fig_spec.get("series") else None
    y = fig_spec["y"]
    series: dict[str, list[tuple]] = {}
    for lab in table.values:
        series.setdefault(lab[si] if si is not None else "", []).append(lab)
    xs_all = list(dict.fromkeys(lab[xi] for lab in table.values))
    numeric = all(_number(x) is not None for x in xs_all)
    pos = {x: (float(x) if numeric else i) for i, x in enumerate(xs_all)}

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = ["C0", "C1", "C2", "C3", "C4", "C5"]
    plotted = False
    for k, (name, labs) in enumerate(series.items()):
        labs = sorted(labs, key=lambda lab: pos[lab[xi]])
        for source, style in (("measured", "-o"), ("paper", "--x")):
            vals = table.values if source == "measured" else table.paper_values
            pts = [(pos[lab[xi]], vals[lab].get(y)) for lab in labs if vals[lab].get(y) is not None]
            if pts:
                plotted = True
                label = f"{source}" + (f", {fig_spec['series']}={name}" if si is not None else "")
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colors[k % len(colors)], label=label)
    if not plotted:
        return None
    if numeric and fig_spec.get("logx"):
        ax.set_xscale("log", base=2)
    ax.set_xticks([pos[x] for x in xs_all], labels=xs_all)
    ax.minorticks_off()
    ax.set_xlabel(fig_spec["x"])
    ax.set_ylabel(y)
    ax.set_title(f"{table.spec['title']} — {table.profile} profile", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Writing


def write_report(spec: dict, runs: pd.DataFrame, out: Path, profile: str | None = None) -> list[Path]:
    """Write `<out>/<table>.md` (+ `.png`); nothing is written when no run belongs to the table."""
    table = build_table(spec, runs, profile)
    if table is None:
        return []
    png = render_figure(table)
    fig_name = f"{spec['name']}.png" if png else None
    written = []
    if png:
        written.append(atomic_write_bytes(out / fig_name, png))
    written.append(atomic_write_text(out / f"{spec['name']}.md", render_markdown(table, fig_name)))
    return written


def write_index(out: Path) -> Path:
    """`reports/README.md`: every report, generated or not, with bench-census's parameters.md."""
    lines = ["# Reports", "",
             "Regenerated from the W&B runs alone by `bench-report` (one table per paper table, see "
             "`conf/report/`) and by `bench-census` (parameter counts). Each report states the profile, seeds, "
             "runs and date that produced it.", "",
             "| report | what it shows | source |", "| --- | --- | --- |"]
    census = out / "parameters.md"
    lines.append(_md_row(["[parameters.md](parameters.md)" if census.exists() else "parameters.md (not generated yet)",
                          "Parameters, counted exactly: every model config and paper row", "written by `bench-census`"]))
    for name in table_names():
        spec = yaml.safe_load((SPEC_DIR / f"{name}.yaml").read_text()) or {}
        md = out / f"{name}.md"
        link = f"[{name}.md]({name}.md)" if md.exists() else f"{name}.md (not generated yet)"
        if (out / f"{name}.png").exists() and md.exists():
            link += f", [{name}.png]({name}.png)"
        lines.append(_md_row([link, spec.get("title", name), spec.get("source", "")]))
    return atomic_write_text(out / "README.md", "\n".join(lines) + "\n")


def parse_args(argv: Sequence[str]) -> dict:
    """`key=value` arguments (Hydra-style) and the word `all`; unknown keys are errors."""
    opts: dict = {"experiment": None, "runs": None, "out": os.environ.get("BENCH_REPORTS_DIR", "reports"),
                  "online": None, "profile": None}
    for arg in argv:
        if arg in ("all", "--all"):
            opts["experiment"] = "all"
            continue
        key, sep, value = arg.partition("=")
        if not sep or key not in opts:
            raise SystemExit(f"bench-report: unknown argument {arg!r}; use experiment=<table>[,<table>] | all, "
                             f"runs=<dir>[,<dir>], out=<dir>, online=<entity/project>, profile=<name>")
        opts[key] = value
    if not opts["experiment"]:
        raise SystemExit(f"bench-report: say which table: experiment=<name> or all (tables: {', '.join(table_names())})")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    names = table_names() if opts["experiment"] == "all" else opts["experiment"].split(",")
    try:
        specs = [load_spec(n) for n in names]
    except SpecError as e:
        print(f"bench-report: {e}", file=sys.stderr)
        return 1
    roots = [r for r in (opts["runs"] or "").split(",") if r]
    if not roots:
        roots = [r for r in DEFAULT_RUNS if Path(r).exists()]
        if not roots and not opts["online"]:
            print(f"bench-report: no runs: none of {', '.join(DEFAULT_RUNS)} exists here; pass runs=<dir> or "
                  "online=<entity/project>. Existing reports are left as they are.", file=sys.stderr)
            return 1
    groups = sorted({s["runs"]["group"] for s in specs})
    try:
        runs = read_runs(roots or None, online_path=opts["online"], filters={"group": groups}, errors="mark")
    except (RunFileError, OSError, ValueError) as e:
        print(f"bench-report: cannot read the runs ({e}); existing reports are left as they are.", file=sys.stderr)
        return 1
    out = Path(opts["out"])
    status = 0
    for spec in specs:
        written = write_report(spec, runs, out, opts["profile"])
        if written:
            print("wrote " + ", ".join(str(p) for p in written))
        else:
            print(f"no runs of group {spec['runs']['group']!r}"
                  + (f" at profile {opts['profile']}" if opts["profile"] else "")
                  + f"; {out / (spec['name'] + '.md')} left as it was")
            status = status or (1 if opts["experiment"] != "all" else 0)
    print(f"wrote {write_index(out)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
