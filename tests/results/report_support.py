"""Synthetic fine-tuning runs for the report tests and the markdown table they check (shared by tests/results)."""

from __future__ import annotations

from pathlib import Path

from tests.support.wandb_writer import write_run_file

T0 = 1.8e9  # 2027-01-15: the report's date comes from the newest run, never from the clock


def write_finetune_run(root: Path, run_id: str, *, E=768, sharing="all", task="mnli", seed=0, values=None,
                       exit_code=0, status="finished", error=None, profile="tiny", t=0,
                       group="albert_sharing") -> None:
    """One albert_sharing-like fine-tuning run (config and summary as a job logs them) under `root/<run_id>`."""
    keys = {"mnli": ["mnli/acc_m"], "sst2": ["sst2/acc"], "race": ["race/acc"], "race_middle": ["race_middle/acc"],
            "squad_v1": ["squad_v1/f1", "squad_v1/exact_match"], "squad_v2": ["squad_v2/f1", "squad_v2/exact"]}[task]
    summary = {"params/total": 480_000 if E == 768 else 410_000, "profile": profile, "git_commit": "abc1234",
               "status": status, **dict(zip(keys, values or [50.0] * len(keys)))}
    if error:
        summary["error"] = error
    config = {"experiment": group, "job_type": "finetune", "seed": seed, "task": {"name": task},
              "model": {"name": "ALBERT-base", "embedding_size": E, "sharing": sharing}, "profile": {"name": profile}}
    write_run_file(root / run_id / "wandb" / f"offline-run-20270101_000000-{run_id}", run_id=run_id,
                   name=f"finetune:E={E},sharing={sharing},task={task},seed={seed}", group=group, job_type="finetune",
                   config=config, summary=summary if exit_code is not None else None,
                   history=[{"train/loss": 1.0}], exit_code=exit_code, start_time=T0 + t)


def write_sharing_runs(root: Path) -> Path:
    """The albert_sharing runs most report tests read: seeds, failures, a rerun, a killed and a diverged run."""
    # E=768 all-shared MNLI: three seeds -> median 70 and the range 60-90
    for seed, v in enumerate([60.0, 90.0, 70.0]):
        write_finetune_run(root, f"m{seed}", seed=seed, values=[v], t=seed)
    # E=768 all-shared SST-2: seed 0 finished; seed 1 failed after logging a (never used) 99
    write_finetune_run(root, "s0", task="sst2", values=[80.0], t=10)
    write_finetune_run(root, "s1", task="sst2", seed=1, values=[99.0], exit_code=1, status="failed",
                       error="RuntimeError: boom", t=11)
    # RACE (at tiny the RACE-M-like task: profile.race_task, the spec's `profiles`): a failed run, then a finished
    # rerun of the same seed: no flag, but the failure is listed
    write_finetune_run(root, "r0", task="race_middle", values=[10.0], status="failed", error="ValueError: caught", t=12)
    write_finetune_run(root, "r1", task="race_middle", values=[40.0], t=13)
    # SQuAD v1.1 F1/EM
    write_finetune_run(root, "q0", task="squad_v1", values=[45.25, 38.0], t=14)
    # shared-attention: SST-2 killed (no exit record), MNLI diverged
    write_finetune_run(root, "k0", sharing="attention", task="sst2", exit_code=None, t=20)
    write_finetune_run(root, "d0", sharing="attention", task="mnli", status="diverged", error="loss is nan", t=21)
    return root


def md_table(md: str) -> tuple[list[str], dict[tuple, dict[str, str]]]:
    """(header, {first two cells: {column: cell}}) of a report's markdown table."""
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0][2:-2].split(" | ")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line[2:-2].split(" | ")]
        rows[tuple(cells[:2])] = dict(zip(header, cells))
    return header, rows


def md_rows(md: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a report's markdown table, every cell as printed (`\\|` unescaped)."""
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    split = [[c.strip().replace("\\|", "|") for c in line[2:-2].split(" | ")] for line in lines]
    return split[0], split[2:]
