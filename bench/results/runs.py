"""W&B runs -> one pandas frame, the same columns for offline run files and for a W&B server.

What a row says (`read_runs`):
- `state`: "finished"; "failed" (exit code != 0, or the job caught its own error and logged
  `status=failed`); "diverged" (`status=diverged`); "interrupted" (`status=interrupted`: a stop
  signal ended it, its resume state is kept, the same command resumes it); "crashed" (no exit record: the process was
  killed; the writer only flushes whole 32 KiB blocks, so a short killed run may hold nothing but
  the header, and its config is then recovered from `logs/debug.log`); "corrupt" (only with
  `errors="mark"`: the file is damaged; `read_error` names it). Online runs keep W&B's states,
  with "killed" read as "crashed".
- Offline W&B does not resume: a restart with the same id writes a second directory from step 0.
  Directories with one run id are merged into one row (`resumed=True`): the later directory's
  config, summary and state win; the histories are concatenated, the later one replacing the
  earlier from its first step on, so no step appears twice.
- `config.*`: the run config flattened with dots (`config.model.sharing`); `summary.*`: the final
  summary, completed by the history's last values for keys the summary lacks.
- `artifacts` (offline runs): JSON text, a list of the artifacts the run logged ({"name", "type",
  "digest", "files"}; a stored encoder is `encoder-<store key>`, a run's prediction files
  `predictions-<run id>`); the encoder a run used is `config.encoder_artifact`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from bench.results.runfile import RunFile, read_run_file

BASE_COLUMNS = ["run_id", "name", "group", "job_type", "state", "exit_code", "resumed", "start_time", "project",
                "source", "run_dir", "file", "read_error"]
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "checkpoints", "files", "logs", ".cache"}


# ---------------------------------------------------------------------------------------------
# Finding, merging, flattening


def find_run_files(roots: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Every `run-<id>.wandb` under the roots (a root may be a file, a run dir, or any folder).

    Symlinked folders (W&B's `latest-run`) are not followed, so no run is read twice.
    """
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"runs folder {root} does not exist")
        if root.is_file():
            found.add(root.resolve())
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for f in filenames:
                if f.startswith("run-") and f.endswith(".wandb"):
                    found.add((Path(dirpath) / f).resolve())
    return sorted(found)


def _decode(raw: str):
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return raw


def _flatten(tree: Mapping, prefix: str, out: dict) -> dict:
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and "_type" not in v:
            if v:
                _flatten(v, key + ".", out)
            else:
                out[key] = None
        else:
            out[key] = _cell(v)
    return out


def _cell(v):
    """A frame-friendly value: lists and media dicts as compact JSON text (hashable, comparable)."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)
    return v


def _merge_history(files: list[RunFile]) -> list[tuple[int, dict[str, str]]]:
    merged: list[tuple[int, dict[str, str]]] = []
    for rf in files:
        if rf.history:
            first = rf.history[0][0]
            merged = [row for row in merged if row[0] < first] + rf.history
    return merged


def _state(exit_code: int | None, status) -> str:
    if exit_code is None:
        return "crashed"
    if status == "interrupted":  # exit code 128 + the signal, never a failure
        return "interrupted"
    if exit_code != 0:
        return "failed"
    if isinstance(status, str) and status in ("failed", "diverged"):
        return status
    return "finished"


def _offline_row(files: list[RunFile], with_history: bool) -> dict:
    """One row from the directories of one run id, oldest first (see the module docstring)."""
    last = files[-1]
    summary = {k: _decode(v) for k, v in last.summary_raw.items() if not k.startswith("_wandb")}
    history = _merge_history(files)
    seen: set[str] = set()
    for _, items in reversed(history):  # history's last values where the summary lacks the key
        for k, raw in items.items():
            if k not in seen:
                seen.add(k)
                if k not in summary and not k.startswith("_wandb"):
                    summary[k] = _decode(raw)
    config: dict = {}
    for rf in files:
        _deep_update(config, rf.config)
    config.pop("_wandb", None)
    errors = [rf.read_error for rf in files if rf.read_error]
    row = {
        "run_id": last.run_id,
        "name": next((rf.name for rf in reversed(files) if rf.name), None),
        "group": next((rf.group for rf in reversed(files) if rf.group), None),
        "job_type": next((rf.job_type for rf in reversed(files) if rf.job_type), None),
        "state": "corrupt" if last.read_error else _state(last.exit_code, summary.get("status")),
        "exit_code": last.exit_code,
        "resumed": len(files) > 1,
        "start_time": next((rf.start_time for rf in files if rf.start_time is not None), None),
        "project": next((rf.project for rf in reversed(files) if rf.project), None),
        "source": "offline",
        "run_dir": str(last.run_dir),
        "file": str(last.path),
        "read_error": "; ".join(errors) if errors else None,
        "artifacts": _cell([{k: a[k] for k in ("name", "type", "digest", "files")} for rf in files
                            for a in rf.artifacts]),
    }
    _flatten(config, "config.", row)
    _flatten(summary, "summary.", row)
    if with_history:
        row["history"] = _history_frame(history)
    return row


def _deep_update(dst: dict, src: Mapping) -> None:
    for k, v in src.items():
        if isinstance(v, Mapping) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = json.loads(json.dumps(v)) if isinstance(v, (dict, list)) else v


def _history_frame(history: list[tuple[int, dict[str, str]]]) -> pd.DataFrame:
    rows = [{"_step": step, **{k: _decode(v) for k, v in items.items() if k != "_step"}} for step, items in history]
    return pd.DataFrame(rows).set_index("_step") if rows else pd.DataFrame()


def _sort_key(rf: RunFile):
    ts = rf.start_time.value if rf.start_time is not None else -1
    return (ts, str(rf.run_dir))


def read_offline(files: Iterable[Path], *, errors: Literal["raise", "mark"] = "raise",
                 history: bool = False, keep=None) -> list[dict]:
    """Rows for run files; `keep(RunFile) -> bool` drops runs early (before flattening)."""
    by_id: dict[str, list[RunFile]] = {}
    for path in files:
        rf = read_run_file(path, errors=errors)
        by_id.setdefault(rf.run_id or str(rf.path), []).append(rf)
    rows = []
    for run_files in by_id.values():
        run_files.sort(key=_sort_key)
        if keep is not None and not any(keep(rf) for rf in run_files):
            continue
        rows.append(_offline_row(run_files, history))
    return rows


# ---------------------------------------------------------------------------------------------
# Online runs

_ONLINE_STATES = {"finished": "finished", "failed": "failed", "crashed": "crashed", "killed": "crashed"}


def read_online(path: str, filters: Mapping | None = None, *, history: bool = False, api=None) -> list[dict]:
    """Rows for the runs of `entity/project` on a W&B server (group / job_type filters go to the server)."""
    if api is None:
        import wandb

        api = wandb.Api()
    server: dict[str, Any] = {}
    for key, server_key in (("group", "group"), ("job_type", "jobType")):
        if filters and key in filters:
            want = filters[key]
            server[server_key] = {"$in": list(want)} if isinstance(want, (list, tuple, set)) else want
    rows = []
    for run in api.runs(path, filters=server or None):
        summary = {k: v for k, v in dict(run.summary_metrics or {}).items() if not str(k).startswith("_wandb")}
        config = {k: v for k, v in dict(run.config or {}).items() if k != "_wandb"}
        state = _ONLINE_STATES.get(run.state, run.state)
        if state == "finished" and summary.get("status") in ("failed", "diverged"):
            state = summary["status"]
        if summary.get("status") == "interrupted" and state in ("failed", "crashed"):
            state = "interrupted"
        created = pd.Timestamp(run.created_at) if getattr(run, "created_at", None) else None
        if created is not None and created.tzinfo is None:  # the API gives UTC without an offset
            created = created.tz_localize("UTC")
        row = {
            "run_id": run.id, "name": run.name, "group": getattr(run, "group", None),
            "job_type": getattr(run, "job_type", None), "state": state,
            "exit_code": None, "resumed": False,
            "start_time": created,
            "project": path.split("/")[-1], "source": "online", "run_dir": getattr(run, "url", None),
            "file": None, "read_error": None,
        }
        _flatten(config, "config.", row)
        _flatten(summary, "summary.", row)
        if history:
            row["history"] = pd.DataFrame(list(run.scan_history()))
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# The public entry point


def _wanted(want) -> set[str]:
    return {str(w) for w in (want if isinstance(want, (list, tuple, set)) else [want])}


def value_matches(value, wanted: set[str]) -> bool:
    """Text comparison, so 768 (config) matches "768" (command line); 768.0 matches "768" too."""
    if isinstance(value, float) and value.is_integer():
        return str(value) in wanted or str(int(value)) in wanted
    return str(value) in wanted


def _matches(frame: pd.DataFrame, key: str, want) -> pd.Series:
    if key not in frame.columns:
        return pd.Series(False, index=frame.index)
    wanted = _wanted(want)
    return frame[key].map(lambda v: value_matches(v, wanted)).astype(bool)


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows -> frame with the base columns first, then config.*, summary.* (sorted), by start time."""
    frame = pd.DataFrame(rows)
    for c in BASE_COLUMNS:
        if c not in frame.columns:
            frame[c] = None
    rest = sorted(c for c in frame.columns if c not in BASE_COLUMNS and c != "history")
    cols = BASE_COLUMNS + [c for c in rest if c.startswith("config.")] + [c for c in rest if c.startswith("summary.")]
    cols += [c for c in rest if c not in cols] + (["history"] if "history" in frame.columns else [])
    frame = frame[cols]
    if not frame.empty:
        frame["start_time"] = pd.to_datetime(frame["start_time"], utc=True)
        frame["exit_code"] = frame["exit_code"].astype("Int64")
        frame["resumed"] = frame["resumed"].fillna(False).astype(bool)
        frame = frame.sort_values(["start_time", "run_id"], kind="stable", na_position="first").reset_index(drop=True)
    return frame


def read_runs(root: str | Path | list | None, *, online_path: str | None = None, filters: Mapping | None = None,
              errors: Literal["raise", "mark"] = "raise", history: bool = False) -> pd.DataFrame:
    """All runs under `root` (folders or run files) and/or of the W&B project `online_path`.

    `filters` {column: value or list}: e.g. {"group": "albert_sharing", "job_type": "finetune",
    "config.model.sharing": "all"}; values compare as text. `errors="mark"` turns a damaged file
    into a row with state "corrupt" (and `read_error` naming it) instead of raising RunFileError.
    `history=True` adds a `history` column (a frame indexed by step per run).
    """
    rows: list[dict] = []
    if root is not None and not (isinstance(root, list) and not root):
        early = {k: _wanted(v) for k, v in (filters or {}).items() if k in ("group", "job_type")}

        def keep(rf: RunFile) -> bool:  # cheap pre-filter; unreadable or group-less runs are kept
            if rf.read_error or rf.group is None:
                return True
            return all(value_matches(getattr(rf, k), v) for k, v in early.items())

        rows += read_offline(find_run_files(root), errors=errors, history=history, keep=keep if early else None)
    if online_path:
        rows += read_online(online_path, filters, history=history)
    frame = to_frame(rows)
    if filters:
        keep_unknown = errors == "mark"
        mask = pd.Series(True, index=frame.index)
        for key, want in filters.items():
            m = _matches(frame, key, want)
            if keep_unknown:  # a run whose group could not be read (corrupt, killed early) stays visible
                m |= frame["group"].isna()
            mask &= m
        frame = frame[mask].reset_index(drop=True)
    return frame
