"""The binary format of a W&B offline run file, `run-<id>.wandb`, both ways, and its records -> `RunFile`.

Why our own codec: wandb 0.31 writes an offline run as a single transaction log (no config.yaml,
no wandb-summary.json), `wandb.Api()` cannot see offline runs, and the old Python reader is gone.
The log is LevelDB-log framed: a 7-byte file header (`:W&B`, magic 0xBEE1, version 0), then 32 KiB
blocks of chunks `<u32 crc32><u16 len><u8 type>` (full / first / middle / last; the CRC is zlib's
CRC-32 of the type byte and the payload); each record is a serialized
`wandb.proto.wandb_internal_pb2.Record`. Reading it directly is fast (~0.2 ms for a small run) and
needs nothing but the protobuf classes wandb ships. `bench.results.runs` merges the files into rows.
"""

from __future__ import annotations

import ast
import json
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd

BLOCK_SIZE = 32768
CHUNK_HEADER = 7
FILE_HEADER = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4

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
    # W&B lineage: {"name", "type", "digest", "aliases", "metadata", "files"} per logged artifact; the
    # names the run declared with use_artifact (online only: wandb 0.31 refuses it offline)
    artifacts: list[dict] = field(default_factory=list)
    used_artifacts: list[str] = field(default_factory=list)
    # define_metric: metric name or glob -> its step metric ("" for none)
    metrics: dict[str, str] = field(default_factory=dict)

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


def read_run_file(path: str | os.PathLike, *, errors: Literal["raise", "mark"] = "raise") -> RunFile:
    """One `.wandb` file -> RunFile. A damaged or unreadable file raises RunFileError, or with
    `errors="mark"` comes back with `read_error` naming it (and what `logs/debug.log` recovers)."""
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
        elif kind == "artifact":
            rf.artifacts.append(_artifact(rec.artifact))
        elif kind == "use_artifact":
            rf.used_artifacts.append(rec.use_artifact.name)
        elif kind == "metric":
            m = rec.metric
            rf.metrics[m.name or m.glob_name] = m.step_metric
    if not saw_run:
        _recover_from_debug_log(rf)


def _artifact(a) -> dict:
    try:
        metadata = json.loads(a.metadata) if a.metadata else {}
    except ValueError:
        metadata = {"raw": a.metadata}
    return {"name": a.name, "type": a.type, "digest": a.digest, "aliases": list(a.aliases), "metadata": metadata,
            "files": sorted(entry.path for entry in a.manifest.contents)}


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
