"""A fine-tuning job stopped mid-training and started again with the same command resumes from its
last checkpoint, under the same W&B run id, and ends bit-identical to the uninterrupted job
(history, metrics, evaluated weights). A stop signal (SIGTERM, SIGINT) writes the checkpoint at the
step it arrived in, records the run as interrupted and exits 128 + the signal; a SIGKILL loses the
steps since the last checkpoint (every 2 steps at smoke), also before the first epoch ended. Early
stopping is on (scored every 2 steps, never stopping) so its state travels in the checkpoint too."""

import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import open_dict

import bench.jobs.finetune.job as job
from bench.config.compose import compose_config
from bench.io import REPO_ROOT
from bench.jobs.finetune import finetune
from bench.jobs.finetune.restart import check_resume_data
from bench.jobs.tracking import job_dir, run_name, run_tracked
from bench.results.runs import read_runs
from tests.support.jobs import job_dir_with_run_id, run_job

# 32 examples / batch 8 = 4 steps an epoch, 12 steps = 3 epochs; every step's loss is logged.
OVERRIDES = ["profile=smoke", "task=sst2", "profile.finetune.max_steps=12", "data.sizes.train=32",
             "profile.finetune.batch_size=8", "trainer.log_every_n_steps=1",
             "early_stopping.patience=100", "early_stopping.every_n_steps=2"]


def kill(signal_name: str, step: int) -> list[str]:
    """A config callback: not part of the job's name, so the restart without it resumes the same job."""
    return ["+callbacks.kill._target_=tests.support.kill.KillAtStep", f"+callbacks.kill.step={step}",
            f"+callbacks.kill.signal={signal_name}"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """One data cache (world, tokenizer, features) for the module; each job gets its own job dirs."""
    return tmp_path_factory.mktemp("data")


def job_overrides(data_dir, tmp_path) -> list[str]:
    return [*OVERRIDES, f"data.cache_dir={data_dir}", f"paths.cache={tmp_path / 'cache'}"]


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory) -> dict:
    """The uninterrupted job, once for the module: its summary, W&B dir and evaluated weights."""
    root = tmp_path_factory.mktemp("reference")
    weights: list[dict] = []
    real = job.evaluate

    def evaluate(module, *args, **kwargs):
        if kwargs.get("splits") is None:
            weights.append({k: v.clone() for k, v in module.state_dict().items()})
        return real(module, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(job, "evaluate", evaluate)
        summary = run_job(job_overrides(data_dir, root), root / "wandb")
    assert summary["status"] == "finished" and summary["finetune/steps"] == 12
    return {"summary": summary, "wandb": root / "wandb", "weights": weights[0]}


@pytest.mark.parametrize(("signal_name", "step", "exit_code", "saved_at", "state"), [
    ("SIGTERM", 5, 143, 5, "interrupted"),  # mid second epoch, between two step checkpoints: written at 5
    ("SIGINT", 3, 130, 3, "interrupted"),  # Ctrl-C before the first epoch ended: written at 3
    ("SIGKILL", 3, -signal.SIGKILL, 2, "crashed"),  # no cleanup: the step checkpoint of 2, not step 0
])
def test_stopped_job_resumes_to_the_same_result(signal_name, step, exit_code, saved_at, state, data_dir, reference,
                                                tmp_path, evaluated_weights, read_settled_runs):
    overrides = job_overrides(data_dir, tmp_path)
    # a process of its own, with its own wandb-core (this one's would still hold the stopped run's id)
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    stopped = subprocess.run([sys.executable, "-m", "bench.jobs.run", *overrides, *kill(signal_name, step),
                              f"hydra.run.dir={tmp_path / 'stopped'}"],
                             cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == exit_code, stopped.stderr[-3000:]
    jdir = job_dir(compose_config(overrides), run_name(overrides, "finetune"))
    last = jdir / "last.ckpt"
    assert last.exists() and not (jdir / "finished.json").exists()
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == saved_at
    run_id = (jdir / "wandb_id").read_text().strip()
    first = read_runs(tmp_path / "stopped")
    assert list(first.run_id) == [run_id] and list(first.state) == [state]
    if state == "interrupted":
        assert list(first["summary.signal"]) == [signal_name] and list(first.exit_code) == [exit_code]

    resumed = run_job(overrides, tmp_path / "resumed")
    assert resumed["resumed_from"] == str(last) and not last.exists()  # done: the resume state is gone
    full = reference["summary"]
    metrics = [k for k in full if k.startswith(("sst2/", "finetune/", "params/"))]
    assert metrics and {k: resumed[k] for k in metrics} == {k: full[k] for k in metrics}
    (weights,) = evaluated_weights
    assert all(torch.equal(weights[k], reference["weights"][k]) for k in weights)

    # W&B: one run, both directories merged, no step lost or repeated, the same rows.
    runs = read_settled_runs([tmp_path / "stopped", tmp_path / "resumed"], history=True)
    assert len(runs) == 1
    run = runs.iloc[0]
    assert (run.run_id, run.state, bool(run.resumed)) == (run_id, "finished", True)
    hist = run.history
    ref = read_settled_runs(reference["wandb"], history=True).iloc[0].history
    assert list(hist.index) == list(range(12)) == list(ref.index)
    assert list(hist["trainer/global_step"]) == list(range(12))
    for column in ("train/loss", "early_stopping/sst2/acc"):
        np.testing.assert_array_equal(hist[column].to_numpy(), ref[column].to_numpy())


def test_stopped_before_any_checkpoint_starts_over_under_the_same_run(tmp_path, cache, read_settled_runs):
    """A job dir without last.ckpt (stopped before its first checkpoint) starts from step 0, with
    the W&B run id of the attempt before (one run in the report), and nothing else of it."""
    cfg = compose_config(OVERRIDES[:2])
    jdir = job_dir(cfg, run_name(OVERRIDES[:2], "finetune"))
    jdir.mkdir(parents=True)
    (jdir / "wandb_id").write_text("oldid123")
    (jdir / "history.jsonl").write_text('{"step": 0, "row": {"train/loss": 9.0}}\n')
    with open_dict(cfg):
        cfg.logger.dir = str(tmp_path / "w")
        cfg.profile.finetune.max_steps = 2
    summary = run_tracked(cfg, run_name(OVERRIDES[:2], "finetune"), finetune, reraise=True)
    assert summary["status"] == "finished" and "resumed_from" not in summary
    assert (jdir / "wandb_id").read_text() == "oldid123"
    assert not (jdir / "history.jsonl").exists() or "9.0" not in (jdir / "history.jsonl").read_text()
    runs = read_settled_runs(tmp_path / "w")
    assert list(runs.run_id) == ["oldid123"] and list(runs.state) == ["finished"]


def test_a_checkpoint_trained_on_other_data_is_not_resumed(tmp_path):
    """data.json (the data's content identity when the job started) must match on resume."""
    data = {"tokenizer": "a" * 64, "corpus": {"en": "c"}, "task": {"sst2": "t"}}
    check_resume_data(tmp_path, data, resuming=False)
    check_resume_data(tmp_path, data, resuming=True)
    with pytest.raises(ValueError) as err:
        check_resume_data(tmp_path, {**data, "tokenizer": "b" * 64}, resuming=True)
    assert str(err.value).startswith(f"{tmp_path / 'last.ckpt'}: trained on other data than this job's (tokenizer ")
    assert f"delete {tmp_path} to start this job over" in str(err.value)


class Payload:
    """Unpickling this runs `open(path, "w")`: the file appears if the checkpoint is loaded unsafely."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_checkpoint_in_a_job_dir_runs_no_code(tmp_path, cache, read_settled_runs):
    overrides = ["profile=smoke", "task=sst2"]
    jdir = job_dir_with_run_id(overrides, "crafted1")
    last = jdir / "last.ckpt"
    torch.save({"state_dict": {}, "loops": {}, "payload": Payload(tmp_path / "created")}, last)
    with pytest.raises(ValueError) as err:
        run_job(overrides, tmp_path / "w")
    msg = str(err.value)
    assert msg.startswith(f"{last}: cannot resume from this checkpoint: it holds objects a safe load refuses")
    assert f"delete {jdir} to start this job over (or run it again with rerun=true)" in msg
    assert not (tmp_path / "created").exists() and last.exists()  # no code ran, nothing deleted
    assert list(read_settled_runs(tmp_path / "w").state) == ["failed"]
    pickle.loads(pickle.dumps(Payload(tmp_path / "created")))  # the payload is real: unpickled, it creates the file
    assert (tmp_path / "created").exists()


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
