"""Report specs (`conf/report/<table>.yaml`, documented in conf/report/README.md), paper CSVs, and
the GLUE-score membership read from the task specs (`conf/task/*.yaml`)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from bench.io import CONF_DIR, PAPER_DIR

SPEC_DIR = CONF_DIR / "report"
NOT_TABLES = {"parameters"}  # specs of other writers (bench-census)
SPEC_KEYS = {"title", "source", "description", "paper", "paper_note", "runs", "rows", "expect", "paper_only",
             "paper_info", "columns", "caption", "figure", "example", "claims"}
RUNS_KEYS = {"group", "also_from", "job_type", "where"}
FIGURE_KEYS = {"x", "y", "series", "logx"}
COLUMN_KEYS = {"name", "metrics", "params", "mean_of", "ratio_of", "to_row", "task", "job_type", "where", "combine",
               "digits", "paper", "paper_unit", "note", "better", "profiles"}
PROFILE_COLUMN_KEYS = {"task", "metrics"}  # what `profiles: {<profile>: {...}}` may replace in a column
# claims: `kind` -> the keys it needs beyond text/kind/column (claims.py evaluates them)
CLAIM_KINDS = {"better": ("row", "than"), "not_worse": ("row", "than"), "order": ("rows",),
               "ratio_at_least": ("row", "than", "ratio"), "ratio_at_most": ("row", "than", "ratio")}
CLAIM_KEYS = {"text", "kind", "column", "row", "than", "rows", "margin", "ratio", "note"}


class SpecError(ValueError):
    """A table spec that cannot be used; the message names the file and the key."""


def as_list(x) -> list:
    """A spec value that may be written as one item or a list, as a list (None: empty)."""
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def label_tuple(x) -> tuple:
    """A row label as the spec writes it: a string (one row key) or a list (several)."""
    return tuple(str(v) for v in (x if isinstance(x, list) else [x]))


def run_groups(spec: dict) -> list[str]:
    """The W&B groups a table reads: its own (`runs.group`), then `runs.also_from`."""
    return [spec["runs"]["group"], *spec["runs"]["also_from"]]


def table_names() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml") if p.stem not in NOT_TABLES)


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
    if unknown := set(runs) - RUNS_KEYS:
        raise SpecError(f"{where}: runs: unknown key(s) {sorted(unknown)} (known: {sorted(RUNS_KEYS)})")
    runs.setdefault("group", name)
    # other experiments whose runs of the same cells count here: the same jobs but for the experiment's name
    runs["also_from"] = [str(g) for g in as_list(runs.get("also_from"))]
    if runs["group"] in runs["also_from"]:
        raise SpecError(f"{where}: runs.also_from names the table's own group {runs['group']!r}")
    runs["job_type"] = as_list(runs.get("job_type"))
    runs["where"] = dict(runs.get("where") or {})
    for i, row in enumerate(spec["rows"]):
        if "key" not in row or "label" not in row:
            raise SpecError(f"{where}: rows[{i}] needs 'key' (config key) and 'label' (row label / paper column)")
        row["key"] = as_list(row["key"])
        row["map"] = {str(k): str(v) for k, v in (row.get("map") or {}).items()}
    names: set[str] = set()
    for i, col in enumerate(spec["columns"]):
        _check_column(col, i, names, where)
        names.add(col["name"])
    fig = spec.get("figure")
    labels = [r["label"] for r in spec["rows"]]
    if fig:
        if unknown := set(fig) - FIGURE_KEYS:
            raise SpecError(f"{where}: figure: unknown key(s) {sorted(unknown)} (known: {sorted(FIGURE_KEYS)})")
        if fig.get("x") not in labels or (fig.get("series") and fig["series"] not in labels):
            raise SpecError(f"{where}: figure x/series must be row labels ({labels})")
        fig["y"] = as_list(fig.get("y"))  # empty: every column but the parameter counts (figure.py)
        if any(y not in names for y in fig["y"]):
            raise SpecError(f"{where}: figure y {fig['y']!r}: each y must be a column ({sorted(names)})")
    spec["claims"] = [_check_claim(c, i, spec, where) for i, c in enumerate(as_list(spec.get("claims")))]
    return spec


def _labels(x, nkeys: int) -> list[tuple]:
    """One or several row labels: with one row key a list is several labels; with several keys a
    label is a list, so several are a list of lists."""
    items = as_list(x)
    if nkeys > 1 and items and not isinstance(items[0], list):
        items = [items]
    return [label_tuple(v) for v in items]


def _check_claim(claim, i: int, spec: dict, where: str) -> dict:
    """Check `claims[i]`: its kind and keys, and that its rows and columns are the table's."""
    at = f"{where}: claims[{i}]"
    if not isinstance(claim, dict):
        raise SpecError(f"{at}: a claim is a mapping with text, kind, column, ...")
    if unknown := set(claim) - CLAIM_KEYS:
        raise SpecError(f"{at}: unknown key(s) {sorted(unknown)} (known: {sorted(CLAIM_KEYS)})")
    kind = claim.get("kind")
    if kind not in CLAIM_KINDS:
        raise SpecError(f"{at}: kind {kind!r}: use one of {sorted(CLAIM_KINDS)}")
    if missing := [k for k in ("text", "column", *CLAIM_KINDS[kind]) if k not in claim]:
        raise SpecError(f"{at}: kind {kind} needs key(s) {missing}")
    allowed = {"text", "kind", "column", "note", *CLAIM_KINDS[kind]} | ({"margin"} if kind in ("better", "not_worse", "order") else set())
    if extra := sorted(set(claim) - allowed):
        raise SpecError(f"{at}: key(s) {extra} do not apply to kind {kind} (it takes {sorted(allowed)})")
    if " — " in str(claim["text"]) or "\n" in str(claim["text"]).strip():
        raise SpecError(f"{at}: text must be one line without ' — ' (the report separates text and evidence by it)")
    cols = {c["name"]: c for c in spec["columns"]}
    out = {"text": " ".join(str(claim["text"]).split()), "kind": kind, "columns": [str(c) for c in as_list(claim["column"])],
           "margin": claim.get("margin", 0.0), "ratio": claim.get("ratio"), "path": where, "index": i}
    for name in out["columns"]:
        col = cols.get(name)
        if col is None:
            raise SpecError(f"{at}: column {name!r} is not a column of the table ({sorted(cols)})")
        if col["kind"] == "ratio_of":
            raise SpecError(f"{at}: column {name!r} is a ratio_of column; claim on the column it divides")
        if kind in ("better", "not_worse", "order") and col["better"] == "none":
            raise SpecError(f"{at}: column {name!r} has `better: none`: {kind} needs a direction")
    for key in ("margin", "ratio"):
        v = out[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            raise SpecError(f"{at}: {key} must be a number >= 0, got {v!r}")
    nkeys = len(spec["rows"])
    known = _claim_rows(spec)
    out["row"] = _labels(claim["row"], nkeys) if "row" in claim else []
    out["than"] = _labels(claim.get("than"), nkeys)
    out["rows"] = _labels(claim.get("rows"), nkeys)
    if kind != "order" and len(out["row"]) != 1:
        raise SpecError(f"{at}: row must be one row label, got {claim['row']!r}")
    if kind == "order" and len(out["rows"]) < 2:
        raise SpecError(f"{at}: order needs rows: at least two row labels, worst first")
    for key in ("row", "than", "rows"):
        for lab in out[key]:
            if lab not in known:
                raise SpecError(f"{at}: {key} {list(lab) if nkeys > 1 else lab[0]!r} is not a measured row label "
                                f"(rows: {', '.join('/'.join(r) for r in known)})")
    return out


def _claim_rows(spec: dict) -> list[tuple]:
    """The row labels a claim may name: the paper CSV's rows and `expect`, less the published-only ones."""
    labels = [r["label"] for r in spec["rows"]]
    rows = []
    if spec.get("paper"):
        path = PAPER_DIR / spec["paper"]
        if not path.exists():
            raise SpecError(f"{spec['path']}: paper CSV {path} does not exist")
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if missing := [c for c in labels if c not in table.columns]:
            raise SpecError(f"{spec['path']}: paper CSV {path} has no column(s) {missing}")
        rows = [tuple(r[c] for c in labels) for _, r in table.iterrows()]
    rows += [label_tuple(x) for x in as_list(spec.get("expect"))]
    only = {label_tuple(x) for x in as_list(spec.get("paper_only"))}
    return [r for r in dict.fromkeys(rows) if r not in only]


def _check_column(col: dict, i: int, earlier: set[str], where: str) -> None:
    """Check one `columns[i]` entry and normalise it in place (lists, `kind`, `where`)."""
    if unknown := set(col) - COLUMN_KEYS:
        raise SpecError(f"{where}: columns[{i}] unknown key(s) {sorted(unknown)} (known: {sorted(COLUMN_KEYS)})")
    if "name" not in col:
        raise SpecError(f"{where}: columns[{i}] needs a 'name'")
    kinds = [k for k in ("metrics", "params", "mean_of", "ratio_of") if k in col]
    if len(kinds) != 1:
        raise SpecError(f"{where}: column {col['name']!r} needs exactly one of metrics / params / mean_of / ratio_of")
    if "ratio_of" in col and (col["ratio_of"] not in earlier or "to_row" not in col):
        raise SpecError(f"{where}: column {col['name']!r}: ratio_of must name an earlier column, with to_row")
    col["kind"] = kinds[0]
    col["metrics"] = as_list(col.get("metrics"))
    col["paper"] = as_list(col.get("paper"))
    col["job_type"] = as_list(col.get("job_type"))
    col["where"] = dict(col.get("where") or {})
    if col.get("task"):
        col["where"]["task.name"] = col["task"]
    for profile, change in (col.get("profiles") or {}).items():
        if profile not in (known := _profile_names()):
            raise SpecError(f"{where}: column {col['name']!r}: profiles.{profile}: no such profile "
                            f"(known: {', '.join(known)})")
        if not isinstance(change, dict) or not change or set(change) - PROFILE_COLUMN_KEYS:
            raise SpecError(f"{where}: column {col['name']!r}: profiles.{profile} must set some of "
                            f"{sorted(PROFILE_COLUMN_KEYS)}, got {change!r}")
        if "metrics" in change and col["kind"] != "metrics":
            raise SpecError(f"{where}: column {col['name']!r}: profiles.{profile}.metrics needs a metrics column")
    col["better"] = col.get("better", "higher")
    if col["better"] not in ("higher", "lower", "none"):
        raise SpecError(f"{where}: column {col['name']!r}: better must be higher, lower or none")
    if col.get("combine") not in (None, "glue", "mean"):
        raise SpecError(f"{where}: column {col['name']!r}: combine must be glue or mean")
    if col.get("combine") == "glue":
        _check_glue_column(col, where)
    for ref in as_list(col.get("mean_of")):
        if ref not in earlier:
            raise SpecError(f"{where}: column {col['name']!r}: mean_of names {ref!r}, not an earlier column")


@functools.cache
def _profile_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in (CONF_DIR / "profile").glob("*.yaml")))


def _check_glue_column(col: dict, where: str) -> None:
    """`combine: glue` needs `<task>/<metric>` keys of one task: exactly the task's GLUE metrics."""
    tasks = {m.split("/", 1)[0] for m in col["metrics"]}
    task = next(iter(tasks)) if len(tasks) == 1 else None
    wanted = glue_task_metrics().get(task or "")
    got = sorted(m.split("/", 1)[1] for m in col["metrics"] if "/" in m)
    if task is None or wanted is None or got != sorted(wanted):
        need = ", ".join(f"{task}/{m}" for m in wanted) if wanted else "a task with `glue_score` in conf/task"
        raise SpecError(f"{where}: column {col['name']!r}: combine: glue needs the metrics of one GLUE task ({need}), "
                        f"got {col['metrics']}")


def load_paper(spec: dict) -> pd.DataFrame | None:
    """The paper CSV as text (printed values kept as printed), columns checked against the spec."""
    if not spec.get("paper"):
        return None
    path = PAPER_DIR / spec["paper"]
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    wanted = [r["label"] for r in spec["rows"]] + as_list(spec.get("paper_info"))
    wanted += [c for col in spec["columns"] for c in col["paper"]]
    if missing := [c for c in wanted if c not in table.columns]:
        raise SpecError(f"{spec['path']}: paper CSV {path} has no column(s) {missing} (columns: {list(table.columns)})")
    return table


def glue_task_metrics(tasks: Iterable | None = None) -> dict[str, tuple[str, ...]]:
    """The GLUE-score membership {task: metrics whose mean is its score}, from the task specs' `glue_score`
    key (`tasks`: names, dicts or TaskSpecs; default every `conf/task` spec); a task without it is not scored."""
    if tasks is None:
        return dict(_conf_glue_task_metrics())
    from bench.data.specs import load_task_spec  # lazy: bench.data loads torch and datasets

    specs = [load_task_spec(t) for t in tasks]
    return {s.name: tuple(s.glue_score) for s in specs if s.glue_score}


@functools.cache
def _conf_glue_task_metrics() -> tuple[tuple[str, tuple[str, ...]], ...]:
    from bench.data.specs import task_names

    return tuple(glue_task_metrics(task_names()).items())


def at_profile(spec: dict, profile: str | None) -> dict:
    """The spec as it reads runs of `profile`: each column's `profiles.<profile>` replaces its task and metrics
    (e.g. the tiny profile's RACE column reads RACE-M-like runs, `race_middle/acc`)."""
    changes = {col["name"]: (col.get("profiles") or {}).get(profile) for col in spec["columns"]}
    if not any(changes.values()):
        return spec
    columns = []
    for col in spec["columns"]:
        change = changes[col["name"]]
        if change:
            col = {**col, "where": dict(col["where"]), **change}
            col["metrics"] = as_list(col["metrics"])
            if col.get("task"):
                col["where"]["task.name"] = col["task"]
        columns.append(col)
    return {**spec, "columns": columns}
