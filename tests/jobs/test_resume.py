"""A job killed mid-training (SIGKILL) and started again with the same overrides resumes from its
epoch-end checkpoint, under the same W&B run id, and ends exactly as the uninterrupted job; the
reader merges the two W&B directories into one run whose history has every step once."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from bench.config.compose import compose_config
from bench.io import REPO_ROOT
from bench.jobs.finetune import finetune
from bench.jobs.tracking import job_dir, run_name, run_tracked
from bench.results.runs import read_runs

# 32 examples / batch 8 = 4 steps an epoch, 12 steps = 3 epochs; every step's loss is logged.
OVERRIDES = ["profile=smoke", "task=sst2", "profile.finetune.max_steps=12", "data.sizes.train=32",
             "profile.finetune.batch_size=8", "trainer.log_every_n_steps=1"]
KILL_AT = 6  # in the second epoch: the epoch-end checkpoint of step 4 exists, steps 5-6 are lost
# A config callback (not part of the job's name: the restart without it resumes the same job dir and run)
KILL = ["+callbacks.kill._target_=tests.support.kill.KillAtStep", f"+callbacks.kill.step={KILL_AT}"]


def run_in_process(wandb_dir, overrides=OVERRIDES) -> dict:
    """What `bench-run <overrides>` does, in this process (the same name, job dir and W&B id)."""
    cfg = compose_config(overrides)
    with open_dict(cfg):
        cfg.logger.dir = str(wandb_dir)
    return run_tracked(cfg, run_name(overrides, cfg.job_type), finetune, reraise=True)


# Early stopping's state (best score and step, best weights) must travel in last.ckpt: with the dev
# set scored every 2 steps, a resumed job that forgot the checks before the kill would evaluate other weights.
@pytest.mark.parametrize("extra", [[], ["early_stopping.patience=100", "early_stopping.every_n_steps=2"]],
                         ids=["fixed_budget", "early_stopping"])
def test_killed_job_resumes_to_the_same_result(tmp_path, cache, extra, read_settled_runs):
    overrides = [*OVERRIDES, *extra]
    full = run_in_process(tmp_path / "full", overrides)
    assert full["status"] == "finished" and full["finetune/steps"] == 12

    # The same job again (its finished job dir is cleared), killed by SIGKILL after step 6.
    # (a process of its own, with its own wandb-core: this one's would still hold the killed run's id)
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env["BENCH_CACHE_DIR"] = str(cache)
    killed = subprocess.run([sys.executable, "-m", "bench.jobs.run", *overrides, *KILL,
                             f"hydra.run.dir={tmp_path / 'killed'}"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    jdir = job_dir(compose_config(overrides), run_name(overrides, "finetune"))
    last = jdir / "last.ckpt"
    assert last.exists() and not (jdir / "summary.json").exists()
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 4  # end of epoch 1
    run_id = (jdir / "wandb_id").read_text().strip()
    first = read_runs(tmp_path / "killed")
    assert list(first.run_id) == [run_id] and list(first.state) == ["crashed"]

    resumed = run_in_process(tmp_path / "resumed", overrides)
    assert resumed["resumed_from"] == str(last) and not last.exists()  # done: the resume state is gone
    metrics = [k for k in full if k.startswith(("sst2/", "finetune/", "params/"))]
    assert metrics and {k: resumed[k] for k in metrics} == {k: full[k] for k in metrics}

    # W&B: one run, both directories merged, no step lost or repeated, the same curve.
    runs = read_settled_runs([tmp_path / "killed", tmp_path / "resumed"], history=True)
    assert len(runs) == 1
    run = runs.iloc[0]
    assert (run.run_id, run.state, bool(run.resumed)) == (run_id, "finished", True)
    assert run["summary.sst2/acc"] == full["sst2/acc"]
    hist = run.history
    ref = read_settled_runs(tmp_path / "full", history=True).iloc[0].history
    assert list(hist.index) == list(range(12)) == list(ref.index)
    assert list(hist["trainer/global_step"]) == list(range(12))
    np.testing.assert_array_equal(hist["train/loss"].to_numpy(), ref["train/loss"].to_numpy())


def test_resume_needs_the_checkpoint_and_the_id(tmp_path, cache, read_settled_runs):
    """A job dir without last.ckpt (killed before its first epoch ended) starts over, new id."""
    cfg = compose_config(OVERRIDES)
    jdir = job_dir(cfg, run_name(OVERRIDES, "finetune"))
    jdir.mkdir(parents=True)
    (jdir / "wandb_id").write_text("oldid123")
    (jdir / "stale.txt").write_text("from an attempt that never checkpointed")
    with open_dict(cfg):
        cfg.logger.dir = str(tmp_path / "w")
        cfg.profile.finetune.max_steps = 2
    summary = run_tracked(cfg, run_name(OVERRIDES, "finetune"), finetune, reraise=True)
    assert summary["status"] == "finished" and "resumed_from" not in summary
    assert (jdir / "wandb_id").read_text() != "oldid123" and not (jdir / "stale.txt").exists()
    runs = read_settled_runs(tmp_path / "w")
    assert list(runs.state) == ["finished"] and not runs.resumed.any()


def test_same_result_whether_the_encoder_was_pretrained_in_the_job_or_read_from_the_store(tmp_path, cache,
                                                                                          evaluated_weights):
    """The first job of a row pretrains its encoder in-process (a store miss), which draws from the
    global RNG; the fine-tuning model must not depend on that (its head was initialized differently)."""
    overrides = ["profile=smoke", "task=sst2", "objective=roberta", "profile.finetune.max_steps=4"]
    summaries = []
    for attempt in ("miss", "hit"):
        cfg = compose_config(overrides)
        with open_dict(cfg):
            cfg.job_dir = str(tmp_path / attempt)
        summaries.append(finetune(cfg, None))
    assert [s["init"] for s in summaries] == ["store:roberta"] * 2
    first, second = evaluated_weights
    assert all(torch.equal(first[k], second[k]) for k in first), [k for k in first if not torch.equal(first[k], second[k])]
