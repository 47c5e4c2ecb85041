"""Committed run data: a table's runs as JSON lines, the report's whole input without the W&B files.

`bench-report ... export=<dir>` writes `<dir>/<group>.runs.jsonl` beside the reports: one record per run of
the table (every state, so a report regenerated from it counts the same runs), the frame's columns with
their values (`config.*`, `summary.*`, state, ids, start time) minus what only locates files on one machine
(absolute paths: run dirs, caches, prediction dirs). About 10 KB per run (the whole
config), so a 3-seed `make tables` commits about 7 MB instead of the run files' hundreds. `runs=<dir>` reads such
files like run folders, and `bench-report` with no run folders reads `<out>/runs`, so `bench-report experiment=all`
on a fresh clone rebuilds every committed table without a job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from bench.io import atomic_write_text
from bench.results.runs import to_frame

SUFFIX = ".runs.jsonl"
MACHINE_COLUMNS = ("run_dir", "file", "history")


def _portable(key: str, value):
    """The value as JSON, or None to drop it: missing values, and absolute paths of the machine it ran on."""
    if key in MACHINE_COLUMNS or value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, str) and (value.startswith("/") or value[1:3] in (":\\", ":/")):
        return None
    if hasattr(value, "item"):  # numpy / pandas scalars
        return value.item()
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for row in frame.to_dict("records"):
        rec = {k: v for k, v in ((k, _portable(k, v)) for k, v in row.items()) if v is not None}
        out.append(rec)
    return sorted(out, key=lambda r: (r.get("start_time") or "", r.get("run_id") or ""))


def write_export(frame: pd.DataFrame, out_dir: Path, group: str) -> Path:
    """Write the runs of one table as `<out_dir>/<group>.runs.jsonl` (sorted, so the same runs give the same bytes)."""
    lines = [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records(frame)]
    return atomic_write_text(Path(out_dir) / f"{group}{SUFFIX}", "\n".join(lines) + "\n")


def split_roots(roots: Iterable[str]) -> tuple[list[Path], list[str]]:
    """(export files, other roots): a root that is a `*.runs.jsonl` file, or a folder holding some, is export data."""
    files: list[Path] = []
    rest: list[str] = []
    for root in roots:
        p = Path(root)
        if p.is_file() and p.name.endswith(SUFFIX):
            files.append(p)
        elif p.is_dir() and any(p.glob(f"*{SUFFIX}")):
            files += sorted(p.glob(f"*{SUFFIX}"))
        else:
            rest.append(root)
    return files, rest


def read_exports(files: Iterable[Path]) -> pd.DataFrame:
    """The runs of export files as the frame `read_runs` gives (source `export`)."""
    rows = []
    for f in files:
        for n, line in enumerate(Path(f).read_text().splitlines(), 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{f}:{n}: not a JSON record ({e.msg})") from None
                rows.append({**rec, "source": "export", "file": str(f)})
    return to_frame(rows)
