"""Runs -> one Table: the spec's runs at one profile, rows by config keys, cells, derived columns, notes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from bench.results.report.cells import Cell, as_number, as_text, fmt, is_missing, mean_cell, metric_cell, seed_of
from bench.results.report.claims import Verdict, judge_all, noise_marks, orderings
from bench.results.report.spec import as_list, at_profile, label_tuple, load_paper, run_groups

# every state but finished, in the order counts are printed; `interrupted`: stopped by a signal, resumable
NOT_FINISHED = ("failed", "interrupted", "crashed", "diverged", "corrupt", "running")
# bench-report's own W&B runs (they hold a regenerated table, in the experiment's group): never a table's run
REPORT_JOB_TYPE = "report"


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
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)  # the table's runs (at its profile)
    intervals: dict[tuple, dict[str, tuple[float, float]]] = field(default_factory=dict)  # 95% t-interval of the mean
    samples: dict[tuple, dict[str, dict[str, float]]] = field(default_factory=dict)  # row -> column -> seed -> value
    marks: dict[tuple[tuple, str], str] = field(default_factory=dict)  # (row, column) -> noise mark (claims.py)
    verdicts: list[Verdict] = field(default_factory=list)  # the spec's claims, judged
    orderings: list[str] = field(default_factory=list)  # per column: measured row order vs the paper's

    @property
    def unreadable(self) -> bool:
        """Every run of the table is corrupt: a table of `corrupt` cells would replace a good report."""
        return len(self.runs) > 0 and bool((self.runs["state"] == "corrupt").all())


def state_counts(states: Iterable[str]) -> str:
    """`6 finished, 1 failed, 1 corrupt`: finished first, then NOT_FINISHED's order, then any other state."""
    counts = pd.Series(list(states), dtype=object).value_counts()
    order = ["finished", *NOT_FINISHED] + sorted(s for s in counts.index if s not in ("finished", *NOT_FINISHED))
    return ", ".join(f"{counts[s]} {s}" for s in order if s in counts)


@dataclass
class _Row:
    """One row before layout, by column name: measured cells, published text and values."""
    cells: dict[str, Cell] = field(default_factory=dict)
    paper: dict[str, str] = field(default_factory=dict)
    paper_values: dict[str, float | None] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # columns with no run (or no value)


def _profile_of(frame: pd.DataFrame) -> pd.Series:
    prof = frame["config.profile.name"] if "config.profile.name" in frame else pd.Series(None, index=frame.index)
    if "summary.profile" in frame:
        prof = prof.where(prof.notna(), frame["summary.profile"])
    return prof


def _where(frame: pd.DataFrame, where: Mapping) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for key, want in where.items():
        col = f"config.{key}"
        wanted = {as_text(w) for w in as_list(want)}
        mask &= frame[col].map(lambda v, w=wanted: not is_missing(v) and as_text(v) in w) if col in frame else False
    return mask


def select_runs(spec: dict, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the table's runs, runs whose group could not be read: they may belong to any table).

    bench-report's own runs (job type `report`) are never a table's run, whatever the spec selects."""
    if runs.empty:
        return runs, runs
    r = spec["runs"]
    runs = runs[runs["job_type"] != REPORT_JOB_TYPE]
    unknown = runs[runs["group"].isna()]
    mine = runs[runs["group"].isin(run_groups(spec))]
    if r["job_type"]:
        mine = mine[mine["job_type"].isin(r["job_type"]) | mine["job_type"].isna()]
    if r["where"]:  # runs whose config could not be read (corrupt, killed early) stay if not finished
        cols = [f"config.{k}" for k in r["where"] if f"config.{k}" in mine]
        unreadable = mine[cols].isna().all(axis=1) if cols else pd.Series(True, index=mine.index)
        mine = mine[_where(mine, r["where"]) | (unreadable & mine["state"].isin(NOT_FINISHED))]
    if not (mine["group"] == r["group"]).any():  # another table's runs alone (`also_from`) make no table yet
        mine = mine.iloc[0:0]
    return mine, unknown


def _one_profile(mine: pd.DataFrame, profile: str | None) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """(runs at the profile or of no known profile, runs at other profiles, the profile): the newest run's by default."""
    profiles = _profile_of(mine)
    if profile is None:
        known = mine[profiles.notna()]
        profile = str(_profile_of(known.sort_values("start_time", kind="stable").tail(1)).iloc[0]) if len(known) else None
    if profile is None:
        return mine, mine.iloc[0:0], None
    return mine[profiles.isna() | (profiles == profile)], mine[profiles.notna() & (profiles != profile)], profile


def _record_where(run: Mapping, where: Mapping) -> bool:
    for key, want in where.items():
        v = run.get(f"config.{key}")
        if is_missing(v) or as_text(v) not in {as_text(w) for w in as_list(want)}:
            return False
    return True


def _row_label(run: Mapping, spec: dict) -> tuple | None:
    label = []
    for row in spec["rows"]:
        vals = [run.get(f"config.{k}") for k in row["key"]]
        if any(is_missing(v) for v in vals):
            return None
        raw = ",".join(as_text(v) for v in vals)
        label.append(row["map"].get(raw, raw))
    return tuple(label)


def _sort_labels(labels: Sequence[tuple]) -> list[tuple]:
    def key(t):
        return tuple((0, float(x), "") if as_number(x) is not None else (1, 0.0, x) for x in t)

    return sorted(labels, key=key)


def build_table(spec: dict, runs: pd.DataFrame, profile: str | None = None) -> Table | None:
    """The table for the runs of one spec, or None when no run belongs to it."""
    mine, unknown = select_runs(spec, runs)
    if mine.empty:
        return None
    mine, other, profile = _one_profile(mine, profile)
    if mine.empty:
        return None
    spec = at_profile(spec, profile)
    paper = load_paper(spec)
    labels = [r["label"] for r in spec["rows"]]
    info = as_list(spec.get("paper_info"))
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
    paper_only = {label_tuple(p) for p in as_list(spec.get("paper_only"))}
    expected = list(paper_rows) + [t for t in map(label_tuple, as_list(spec.get("expect"))) if t not in paper_rows]
    order = expected + _sort_labels([lab for lab in by_row if lab not in expected])

    notes: dict[str, list] = {}
    grid = [(lab, _row(spec, by_row.get(lab, []), paper_rows.get(lab), lab in paper_only, notes)) for lab in order]
    # a column with no published counterpart gets no "(paper)" column, except in a table whose
    # paper gives no numbers at all: there every published column is shown empty, with a note
    shown = {col["name"]: bool(col["paper"]) or not spec.get("paper") for col in spec["columns"]}
    _fill_ratios(spec, dict(grid), shown)

    header = labels + [f"{c} (paper)" for c in info]
    for col in spec["columns"]:
        header += [col["name"]] + ([f"{col['name']} (paper)"] if shown[col["name"]] else [])
    values = {lab: {name: cell.value for name, cell in row.cells.items()} for lab, row in grid}
    samples = {lab: {name: c.samples for name, c in row.cells.items() if c.samples} for lab, row in grid}
    marks = noise_marks(spec, values, samples)
    rows, paper_values, intervals, missing_cells = [], {}, {}, []
    measured = sum(c["kind"] not in ("mean_of", "ratio_of") for c in spec["columns"])
    for lab, row in grid:
        prow = paper_rows.get(lab)
        line = list(lab) + [prow[c] if prow is not None else "" for c in info]
        for col in spec["columns"]:
            name = col["name"]
            mark = marks.get((lab, name))
            text = f"{mark} {row.cells[name].text}" if mark else row.cells[name].text
            line += [text] + ([row.paper.get(name, "")] if shown[name] else [])
        rows.append(line)
        intervals[lab] = {name: (c.low, c.high) for name, c in row.cells.items() if c.low is not None and c.high is not None}
        paper_values[lab] = row.paper_values
        if row.missing:
            which = "every column" if len(row.missing) == measured else ", ".join(row.missing)
            missing_cells.append(f"{_label_text(labels, lab)} ({which})")

    table = Table(spec, profile, labels, info, header, rows, values, paper_values, runs=mine, intervals=intervals,
                  samples=samples, marks=marks)
    table.verdicts = judge_all(table)
    table.orderings = orderings(table)
    table.notes = _footnote(spec, mine, records, other, unknown, row_of, missing_cells, notes, profile, labels)
    return table


def _row(spec: dict, in_row: list[dict], prow: pd.Series | None, paper_only: bool, notes: dict) -> _Row:
    """One row's cells (ratio columns are placeholders until every row is known) and published numbers."""
    row = _Row()
    for col in spec["columns"]:
        name = col["name"]
        if paper_only:
            cell = Cell("—")
        elif col["kind"] == "mean_of":
            cell = mean_cell(row.cells, col)
        elif col["kind"] == "ratio_of":
            cell = Cell("n/a")
        else:
            sel = [r for r in in_row if (not col["job_type"] or r["job_type"] in col["job_type"])
                   and _record_where(r, col["where"])]
            cell = metric_cell(sel, col, notes)
            if cell.text == "missing":
                row.missing.append(name)
        row.cells[name] = cell
        if prow is not None and col["paper"]:
            ptext = "/".join(prow[c] for c in col["paper"])
            if ptext.replace("/", "") and col.get("paper_unit"):
                ptext += col["paper_unit"]
            row.paper[name] = ptext
            row.paper_values[name] = as_number(prow[col["paper"][0]])
    return row


def _fill_ratios(spec: dict, grid: dict[tuple, _Row], shown: dict[str, bool]) -> None:
    """`ratio_of` columns: a row's value of another column over the reference row's (measured in
    the same sweep), and the same ratio of the published numbers."""
    for col in spec["columns"]:
        if col["kind"] != "ratio_of":
            continue
        name, of, digits = col["name"], col["ratio_of"], int(col.get("digits", 2))
        ref = grid.get(label_tuple(col["to_row"]), _Row())
        for row in grid.values():
            if row.cells[name].text != "—":  # a published-only row has no measured ratio
                ratio = _ratio(row.cells[of].value, ref.cells[of].value if of in ref.cells else None)
                row.cells[name] = Cell(fmt(ratio, digits), ratio) if ratio is not None else Cell("n/a")
            if shown[name]:
                ratio = _ratio(row.paper_values.get(of), ref.paper_values.get(of))
                row.paper[name] = fmt(ratio, digits) if ratio is not None else ""
                row.paper_values[name] = ratio


def _ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den not in (None, 0) else None


def _label_text(labels: list[str], lab: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(labels, lab))


def _run_label(run: Mapping) -> str:
    name = run.get("name")
    name = run["run_id"] if is_missing(name) or not name else name
    return f"`{name}` (run {run['run_id']})" if name != run["run_id"] else f"run `{run['run_id']}`"


def _rel(p) -> str:
    if is_missing(p) or not p:
        return ""
    try:
        return os.path.relpath(str(p))
    except ValueError:
        return str(p)


_RUN_FILE = re.compile(r"(?:[^\s;:'\"]*[/\\])?([^\s;:'\"/\\]+[/\\]run-[^\s;:'\"/\\]+\.wandb)")


def _reason(run: Mapping) -> str:
    """Why a run is not averaged, on one line: a corrupt run's whole read error with each run file's path
    cut to `<run dir>/run-<id>.wandb` (the error after it is the point); otherwise the first line of
    the error the job recorded."""
    if run["state"] == "corrupt":
        why = run.get("read_error")
        if is_missing(why) or not why:
            return ""
        why = str(why)
        if not is_missing(run.get("file")) and run.get("file"):
            path = str(run["file"])
            why = why.replace(path, os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path)))
        return " ".join(_RUN_FILE.sub(r"\1", why).split())
    why = run.get("summary.error")
    return "" if is_missing(why) or not str(why).strip() else str(why).strip().splitlines()[0]


def _borrowed(spec: dict, mine: pd.DataFrame) -> str:
    """How many of the runs are another experiment's (`runs.also_from`): the same jobs, run once for both tables."""
    other = mine[mine["group"] != spec["runs"]["group"]]
    if other.empty:
        return ""
    counts = ", ".join(f"{n} of them {g}'s" for g, n in sorted(other["group"].value_counts().items()))
    return f"; {counts}: the same jobs but for the experiment's name, run once for both tables"


def _footnote(spec, mine, records, other, unknown, row_of, missing_cells, notes, profile, labels) -> list[str]:
    seeds = sorted({seed_of(r) for r in records} - {"?"}, key=lambda s: (as_number(s) is None, as_number(s) or 0, s))
    states = state_counts(mine["state"])
    commits = sorted({str(c) for c in mine.get("summary.git_commit", pd.Series(dtype=object)) if not is_missing(c)})
    out = [
        f"Profile: **{profile or 'unknown'}**. Seeds: {', '.join(seeds) or 'none recorded'} ({len(seeds)}). "
        f"Runs: {len(mine)} ({states}{_borrowed(spec, mine)}). Date: {_date(mine)} (start of the newest run). "
        f"Code: {', '.join(commits) or 'git commit not recorded'}.",
    ]
    bad = [(r, lab) for r, lab in zip(records, row_of) if r["state"] != "finished"]
    if bad:
        items = ["Not averaged (failed, interrupted, crashed, diverged or unreadable runs):", ""]
        for run, lab in bad:
            where = f" [{_label_text(labels, lab)}]" if lab else ""
            why = _reason(run)
            items.append(f"- {_run_label(run)}{where}: {run['state']}" + (f": {why}" if why else ""))
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
