"""End to end at the tiny profile, the way `make tables` runs it: one joblib sweep on two workers,
one torch thread each, pretrains one tiny encoder through the checkpoint store (the RoBERTa recipe,
dynamic masking; the second worker waits on the store's lock), then fine-tunes it on SST-2-, MNLI-,
SQuAD v2- and RACE-M-like data; each job, scored by its official metric on its dev set, must beat
the trivial baseline of that dev set: the majority class (letter) or the all-no-answer prediction.

Each job runs the tiny profile's own budget (profile.finetune.max_steps, 1,200 steps; for RACE
profile.finetune_by_type's 2,000 steps of 16 questions; minutes in all on CPU); the margins sit well
below what the runs reach and well above the noise of a 400-question dev set (one standard error is
2-2.5 points here). Why these budgets and margins: docs/notes/tiny-finetune-budget.md and
docs/notes/pooler-vs-cls.md.
"""

import os
import subprocess
import sys
from collections import Counter

import pytest

from bench.config.compose import compose_config
from bench.data import load_task
from bench.io import REPO_ROOT
from bench.jobs.finetune import finetune_hparams
from bench.results.runs import read_runs

PRETRAINING = ["objective=roberta"]  # the tiny recipe: 1000 steps x 32 sequences of 128 tokens


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The four jobs, RACE first (the longest job starts first); their runs by task."""
    root = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "BENCH_CACHE_DIR": str(root / "cache"), "WANDB_MODE": "offline", "BENCH_N_JOBS": "2",
           "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}  # the Makefile's SWEEP_ENV
    env.pop("WANDB_SERVICE", None)
    tasks = ",".join(case[0] for case in sorted(CASES, key=lambda c: c[0] != "race_middle"))
    cmd = [sys.executable, "-m", "bench.jobs.run", "-m", f"task={tasks}", "profile=tiny", *PRETRAINING,
           "hydra/launcher=joblib", f"hydra.sweep.dir={root / 'sweep'}"]
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = read_runs(root / "sweep")
    assert set(runs["config.task.name"]) == {c[0] for c in CASES} and set(runs.state) == {"finished"}, runs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE_DIR", str(root / "cache"))  # the dev sets the jobs scored, for the baselines
        yield {row["config.task.name"]: row for _, row in runs.iterrows()}


def majority_share(labels) -> float:
    return 100.0 * Counter(labels).most_common(1)[0][1] / len(labels)


def no_answer_f1(split) -> float:
    """SQuAD v2 F1 (and EM) of predicting "" for every question: the share of unanswerable ones."""
    return 100.0 * sum(not a["text"] for a in split["answers"]) / len(split)


# task, the metric, its dev split and baseline, the margin in points
CASES = [
    ("sst2", "sst2/acc", lambda d: majority_share(d["validation"]["label"]), 20.0),
    ("mnli", "mnli/acc_m", lambda d: majority_share(d["validation_matched"]["label"]), 6.0),
    ("squad_v2", "squad_v2/f1", lambda d: no_answer_f1(d["validation"]), 10.0),
    # RACE-M-like with the tiny profile's multiple-choice settings (docs/notes/race-at-tiny.md)
    ("race_middle", "race_middle/acc", lambda d: majority_share(d["validation"]["answer"]), 8.0),
]


@pytest.mark.parametrize("task, metric, baseline, margin", CASES, ids=[c[0] for c in CASES])
def test_pretrained_tiny_encoder_beats_the_baseline(task, metric, baseline, margin, sweep):
    run = sweep[task]
    assert run["summary.init"] == "store:roberta"  # fine-tuned from the pretrained encoder, not from scratch
    assert run["summary.head_input"] == "cls"  # no NSP: the pooler is untrained (bench/jobs/encoders.py)
    assert run["config.env.torch_threads"] == 1  # as in make tables: one thread per worker
    cfg = compose_config([f"task={task}", "profile=tiny", *PRETRAINING])
    floor = baseline(load_task(cfg.task, cfg.data))
    steps = run["summary.finetune/steps"]
    assert steps == finetune_hparams(cfg)["max_steps"]  # the profile's budget for this task type
    print(f"{metric} = {run['summary.' + metric]:.1f} after {steps} steps; baseline {floor:.1f}")  # pytest -rP shows it
    assert run["summary." + metric] > floor + margin, (metric, run["summary." + metric], "baseline", floor)
