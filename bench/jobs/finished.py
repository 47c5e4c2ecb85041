"""Finished jobs are not run again: a job's dir keeps `finished.json` (its summary, W&B run id and
dir, the fingerprint of its config and the content identity of its data), and a later run of the
same job with the same fingerprint on the same data is skipped (`rerun=true` forces it).

The fingerprint is the sha256 of the job's resolved config without what does not change its
result: where things are written (`paths`, `logger`, `hydra`, `job_dir`, `data.cache_dir`),
observers (`callbacks`), how often a resume checkpoint is written (`profile.*_checkpoint`),
`data.checkpoint` (a repeat of `model.init`), `profile.race_task`, the timing settings of any job but
a timing job, and `rerun` itself (NOT_IN_FINGERPRINT). The data is compared by content (`tracking.data_identity`: the sha256 of the
tokenizer.json and of the data files), so a rebuilt world or tokenizer with other bytes runs the
job again. The code version is not in it: a commit that changes results needs `rerun=true` (the
summary records `git_commit`, so the report can tell).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bench.io import atomic_write_text

FINISHED_FILE = "finished.json"
# Settings that do not make another job: where it writes, observers (`callbacks`, e.g. a test's kill),
# how often it checkpoints, `rerun`; so a job restarted without them resumes (or skips) the same job dir
# and W&B run. Neither a job's fingerprint nor its name (tracking.run_name, hence its job dir) holds them.
NOT_A_JOB_SETTING = ("paths", "logger", "hydra", "callbacks", "rerun", "profile.finetune_checkpoint",
                     "profile.pretrain_checkpoint")
# The fingerprint also drops values derived from others: the job dir, the cache dir, data.checkpoint
# (a repeat of model.init, the checkpoint that brings its tokenizer, fingerprinted there) and
# profile.race_task (which task a sweep runs; the task itself is fingerprinted); and, but for a timing
# job, the timing settings (`speed`), so that a change to them does not run every finished job again.
NOT_IN_FINGERPRINT = (*NOT_A_JOB_SETTING, "job_dir", "data.cache_dir", "data.checkpoint", "profile.race_task")
# Overrides left out of a job's name (tracking.run_name): its experiment (the W&B group) and those settings.
NOT_IN_NAME = ("experiment", *NOT_A_JOB_SETTING)


def override_key(override: str) -> str:
    """`a.b` of `a.b=1`, `+a.b=1`, `~a.b`."""
    return override.lstrip("+~").split("=", 1)[0]


def is_about(override: str, keys: tuple[str, ...]) -> bool:
    """Whether the override sets or deletes one of `keys` or something under it."""
    key = override_key(override)
    return any(key == k or key.startswith(k + ".") for k in keys)


def job_fingerprint(cfg: DictConfig) -> str:
    plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for dotted in NOT_IN_FINGERPRINT + (() if plain.get("job_type") == "speed" else ("speed",)):
        *parents, key = dotted.split(".")
        node = plain
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(key, None)
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()


def read_finished(job_dir: Path) -> dict | None:
    """{"fingerprint", "data", "run_id", "run_dir", "summary"} of the job that finished in `job_dir`, or None."""
    path = Path(job_dir) / FINISHED_FILE
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return done if isinstance(done, dict) and {"fingerprint", "summary"} <= set(done) else None


def write_finished(job_dir: Path, fingerprint: str, data: dict | None, summary: dict, run) -> None:
    done = {"fingerprint": fingerprint, "data": data, "run_id": run.id, "run_dir": str(Path(run.dir).parent),
            "summary": summary}
    atomic_write_text(Path(job_dir) / FINISHED_FILE, json.dumps(done, indent=1, default=str))


def headline(cfg: DictConfig, summary: dict) -> str:
    """The one result a line about the job shows: the task's headline metric for a fine-tuning."""
    keys = []
    task = cfg.get("task")
    if cfg.get("job_type") == "finetune" and task is not None and task.get("headline"):
        keys.append(f"{task.name}/{task.headline}")
    keys += ["pretrain/val_ppl", "distill/val_ppl", "speed/median_ms"]
    for key in keys:
        if key in summary:
            return f"{key}={summary[key]}"
    return f"status={summary.get('status')}"
