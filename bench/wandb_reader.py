"""W&B runs -> one pandas frame, the same columns for offline run files and for a W&B server.

Why a reader of our own: wandb 0.31 writes an offline run as a single transaction log,
`run-<id>.wandb` (no config.yaml, no wandb-summary.json), `wandb.Api()` cannot see offline runs,
and the old Python reader is gone. The log is LevelDB-log framed: a 7-byte file header
(`:W&B`, magic 0xBEE1, version 0), then 32 KiB blocks of chunks `<u32 crc32><u16 len><u8 type>`
(full / first / middle / last; the CRC is zlib's CRC-32 of the type byte and the payload); each
record is a serialized `wandb.proto.wandb_internal_pb2.Record`. Reading it directly is fast
(~0.2 ms for a small run) and needs nothing but the protobuf classes wandb ships.

What a row says (`read_runs`):
- `state`: "finished"; "failed" (exit code != 0, or the job caught its own error and logged
  `status=failed`); "diverged" (`status=diverged`); "crashed" (no exit record: the process was
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
"""

from __future__ import annotations

import ast
import json
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd

BLOCK_SIZE = 32768
CHUNK_HEADER = 7
FILE_HEADER = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4

BASE_COLUMNS = ["run_id", "name", "group", "job_type", "state", "exit_code", "resumed", "start_time", "project",
                "source", "run_dir", "file", "read_error"]
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "checkpoints", "files", "logs", ".cache"}
_DIR_RE = re.compile(r"^(?:offline-)?run-(\d{8}_\d{6})-(.+)$")


class RunFileError(ValueError):
    """A `.wandb` file that cannot be read; the message names the file and the byte offset."""


class RunFileTruncated(RunFileError):
    """A `.wandb` file that ends inside a chunk: cut short, or read while its writer is at work."""


@dataclass
class RunFile:
    """What one run directory holds (before runs with the same id are merged)."""

    path: Path
    run_id: str = ""
    name: str | None = None
    group: str | None = None
    job_type: str | None = None
    project: str | None = None
    start_time: pd.Timestamp | None = None
    config: dict = field(default_factory=dict)
    summary_raw: dict[str, str] = field(default_factory=dict)  # flat key -> value JSON (decoded at the end)
    history: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (step, key -> value JSON)
    exit_code: int | None = None
    read_error: str | None = None

    @property
    def run_dir(self) -> Path:
        return self.path.parent


# ---------------------------------------------------------------------------------------------
# The record log


def iter_records(path: str | os.PathLike) -> Iterator[Any]:
    """Yield every `Record` of a `.wandb` file, in order.

    A file cut at a block boundary with its last record unfinished is what a killed writer leaves
    (it writes whole blocks): the records before it are yielded and reading stops. Anything else
    (bad header, CRC mismatch, a chunk cut in the middle, broken chunk sequence, undecodable
    protobuf) raises RunFileError naming the file and offset. A file read while its writer is
    still at work can also end inside a chunk (CI once caught one at byte 8192, just after the
    job's `finish()`): that too raises RunFileTruncated, and reads whole once the writer is done.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    data = path.read_bytes()
    n = len(data)
    if n < CHUNK_HEADER or data[:CHUNK_HEADER] != FILE_HEADER:
        raise RunFileError(f"{path}: not a W&B run file (header {data[:CHUNK_HEADER]!r}, expected {FILE_HEADER!r})")
    pos, pending, pending_at = CHUNK_HEADER, None, 0
    while pos < n:
        left = BLOCK_SIZE - pos % BLOCK_SIZE
        if left < CHUNK_HEADER:  # block trailer: zero padding
            pos += left
            continue
        if pos + CHUNK_HEADER > n:
            raise RunFileTruncated(f"{path}: truncated at byte {pos}: a chunk header is cut short (file size {n})")
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if kind == 0 and length == 0 and crc == 0:  # zero-filled rest of a block
            pos += left
            continue
        end = pos + CHUNK_HEADER + length
        if CHUNK_HEADER + length > left:
            raise RunFileError(f"{path}: corrupt chunk at byte {pos}: length {length} overruns its block")
        if end > n:
            raise RunFileTruncated(f"{path}: truncated at byte {pos}: chunk of {length} bytes, file ends at {n}")
        payload = data[pos + CHUNK_HEADER:end]
        if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) & 0xFFFFFFFF != crc:
            raise RunFileError(f"{path}: corrupt chunk at byte {pos}: CRC mismatch")
        if kind in (FULL, FIRST) and pending is not None:
            raise RunFileError(f"{path}: corrupt chunk at byte {pos}: a record starts inside the record at byte {pending_at}")
        record = None
        if kind == FULL:
            record = payload
        elif kind == FIRST:
            pending, pending_at = [payload], pos
        elif kind in (MIDDLE, LAST):
            if pending is None:
                raise RunFileError(f"{path}: corrupt chunk at byte {pos}: continuation without a first chunk")
            pending.append(payload)
            if kind == LAST:
                record, pending = b"".join(pending), None
        else:
            raise RunFileError(f"{path}: corrupt chunk at byte {pos}: unknown chunk type {kind}")
        pos = end
        if record is not None:
            msg = pb.Record()
            try:
                msg.ParseFromString(record)
            except Exception as e:  # noqa: BLE001 - protobuf's DecodeError type differs per backend
                raise RunFileError(f"{path}: corrupt record ending at byte {pos}: {e}") from e
            yield msg
    # A record left open at EOF: the writer was killed mid-record (whole blocks only reach disk).


def _key(item) -> str:
    return ".".join(item.nested_key) if item.nested_key else item.key


def _history_value(item) -> str:
    """The value of a HistoryItem as JSON text (the typed oneof or value_json)."""
    kind = item.WhichOneof("value")
    if kind is None:
        return item.value_json
    if kind == "none":
        return "null"
    if kind == "text":
        return json.dumps(item.text)
    if kind == "json":
        return item.json
    value = getattr(item, kind)
    return json.dumps(bool(value)) if kind == "boolean" else repr(value)


def _set_nested(tree: dict, path: list[str], value) -> None:
    for part in path[:-1]:
        nxt = tree.get(part)
        if not isinstance(nxt, dict):
            nxt = tree[part] = {}
        tree = nxt
    tree[path[-1]] = value


def _pop_nested(tree: dict, path: list[str]) -> None:
    for part in path[:-1]:
        tree = tree.get(part)
        if not isinstance(tree, dict):
            return
    tree.pop(path[-1], None)


def _apply_config(config: dict, rec) -> None:
    for item in rec.update:
        _set_nested(config, list(item.nested_key) or [item.key], json.loads(item.value_json))
    for item in rec.remove:
        _pop_nested(config, list(item.nested_key) or [item.key])


def _apply_summary(summary_raw: dict[str, str], rec) -> None:
    for item in rec.update:
        summary_raw[_key(item)] = item.value_json
    for item in rec.remove:
        summary_raw.pop(_key(item), None)


def _timestamp(ts) -> pd.Timestamp | None:
    if not ts.seconds and not ts.nanos:
        return None
    return pd.Timestamp(ts.seconds * 1_000_000_000 + ts.nanos, unit="ns", tz="UTC")


def read_run_file(path: str | os.PathLike) -> RunFile:
    """One `.wandb` file -> RunFile (raises RunFileError if it is damaged)."""
    rf = RunFile(Path(path))
    _fill_from_dir_name(rf)
    _read_into(rf)
    return rf


def _fill_from_dir_name(rf: RunFile) -> None:
    m = _DIR_RE.match(rf.run_dir.name)
    if m:
        rf.run_id = m.group(2)
        rf.start_time = pd.Timestamp(datetime.strptime(m.group(1), "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc))
    elif rf.path.stem.startswith("run-"):
        rf.run_id = rf.path.stem[4:]


def _read_into(rf: RunFile) -> None:
    saw_run = False
    for rec in iter_records(rf.path):
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            h = rec.history
            items = {_key(it): _history_value(it) for it in h.item}
            step = items.get("_step")
            rf.history.append((int(float(step)) if step not in (None, "") else int(h.step.num), items))
        elif kind == "summary":
            _apply_summary(rf.summary_raw, rec.summary)
        elif kind == "config":
            _apply_config(rf.config, rec.config)
        elif kind == "run":
            r = rec.run
            saw_run = True
            rf.run_id = r.run_id or rf.run_id
            rf.name = r.display_name or None
            rf.group = r.run_group or None
            rf.job_type = r.job_type or None
            rf.project = r.project or None
            rf.start_time = _timestamp(r.start_time) or rf.start_time
            _apply_config(rf.config, r.config)
            _apply_summary(rf.summary_raw, r.summary)
        elif kind == "exit":
            rf.exit_code = int(rec.exit.exit_code)
    if not saw_run:
        _recover_from_debug_log(rf)


def _recover_from_debug_log(rf: RunFile) -> None:
    """A run killed before its first block reached disk: its init config is in logs/debug.log.

    The Hydra config carries `experiment` (= the W&B group) and `job_type`, so the run can still
    be listed under its table as crashed.
    """
    log = rf.run_dir / "logs" / "debug.log"
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if line.startswith("config: "):
            try:
                cfg = ast.literal_eval(line[len("config: "):])
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return
            if isinstance(cfg, dict):
                rf.config = cfg
                rf.group = rf.group or (str(cfg["experiment"]) if cfg.get("experiment") is not None else None)
                rf.job_type = rf.job_type or (str(cfg["job_type"]) if cfg.get("job_type") is not None else None)
            return


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
        rf = RunFile(Path(path))
        _fill_from_dir_name(rf)
        try:
            _read_into(rf)
        except RunFileError as e:
            if errors == "raise":
                raise
            rf.read_error = str(e)
        except OSError as e:
            if errors == "raise":
                raise RunFileError(f"{path}: cannot read: {e}") from e
            rf.read_error = f"{path}: cannot read: {e}"
        if rf.read_error and rf.group is None:
            _recover_from_debug_log(rf)
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


def write_run_file(run_dir: str | os.PathLike, *, run_id: str, name: str | None = None, group: str | None = None,
                   job_type: str | None = None, project: str = "bench", config: Mapping | None = None,
                   history: Iterable[Mapping] = (), summary: Mapping | None = None, exit_code: int | None = 0,
                   start_time: float = 0.0) -> Path:
    """Write `run-<id>.wandb` in the framing wandb 0.31 uses (for synthetic runs in tests and benchmarks).

    The records are the ones a real run writes for the same calls: run (config, group, job type,
    name, start time), a history + summary record per logged step, the final summary, and the
    exit record unless `exit_code` is None (a killed run).
    """
    from wandb.proto import wandb_internal_pb2 as pb

    records = []
    rec = pb.Record()
    r = rec.run
    r.run_id, r.project = run_id, project
    if name:
        r.display_name = name
    if group:
        r.run_group = group
    if job_type:
        r.job_type = job_type
    r.start_time.seconds, r.start_time.nanos = int(start_time), int(round((start_time % 1) * 1e9))
    for k, v in (config or {}).items():
        item = r.config.update.add()
        item.key, item.value_json = k, json.dumps(v)
    records.append(rec)
    for step, row in enumerate(history):
        rec = pb.Record()
        for k, v in {**row, "_step": step}.items():
            item = rec.history.item.add()
            item.nested_key.append(k)
            item.value_json = json.dumps(v)
        rec.history.step.num = step
        records.append(rec)
        srec = pb.Record()
        for k, v in {**row, "_step": step}.items():
            item = srec.summary.update.add()
            item.key, item.value_json = k, json.dumps(v)
        records.append(srec)
    if summary:
        rec = pb.Record()
        for k, v in summary.items():
            item = rec.summary.update.add()
            item.key, item.value_json = k, json.dumps(v)
        records.append(rec)
    if exit_code is not None:
        rec = pb.Record()
        rec.exit.exit_code = exit_code
        records.append(rec)
    path = Path(run_dir) / f"run-{run_id}.wandb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(frame_records([x.SerializeToString() for x in records]))
    return path


def frame_records(payloads: Iterable[bytes]) -> bytes:
    """The LevelDB-log framing of serialized records, after the W&B file header."""
    out = bytearray(FILE_HEADER)
    for payload in payloads:
        first = True
        while True:
            left = BLOCK_SIZE - len(out) % BLOCK_SIZE
            if left < CHUNK_HEADER:
                out += b"\0" * left
                continue
            room = left - CHUNK_HEADER
            piece, payload = payload[:room], payload[room:]
            kind = (FULL if not payload else FIRST) if first else (LAST if not payload else MIDDLE)
            crc = zlib.crc32(piece, zlib.crc32(bytes((kind,)))) & 0xFFFFFFFF
            out += struct.pack("<IHB", crc, len(piece), kind) + piece
            first = False
            if not payload:
                break
    return bytes(out)

