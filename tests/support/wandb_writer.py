"""Synthetic W&B offline run files for the tests and the report benchmark (no W&B process needed)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from bench.results.runfile import frame_records


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
