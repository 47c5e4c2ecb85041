"""Opt-in early stopping (bench/jobs/early_stopping.py): off by default, a validated config that names
the key at fault, dev splits only, and in the real job: evaluations logged at their steps, the stop
after `patience` evaluations without improvement, the best weights evaluated at the end."""

import json
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

import bench.jobs.finetune.job as job
from bench.config.compose import compose_config
from bench.jobs.early_stopping import DevEarlyStopping, EarlyStoppingPlan, early_stopping_plan
from bench.jobs.tracking import run_name, run_tracked


def plan_for(*overrides):
    cfg = compose_config(list(overrides))
    return early_stopping_plan(cfg, cfg.task)


def run_job(overrides, tmp_path) -> tuple[dict, list[dict]]:
    """The tracked job (offline W&B under tmp_path): its summary and its history rows (job dir)."""
    cfg = compose_config(overrides)
    with open_dict(cfg):
        cfg.logger.dir = str(tmp_path / "wandb")
    summary = run_tracked(cfg, run_name(overrides, cfg.job_type), job.finetune, reraise=True)
    history = [json.loads(line) for line in (Path(cfg.job_dir) / job.HISTORY_FILE).read_text().splitlines()]
    return summary, history


def test_off_by_default():
    assert compose_config([]).early_stopping.patience is None
    assert plan_for() is None


def test_the_headline_of_the_first_dev_split_by_default_and_any_dev_key_on_request():
    assert plan_for("task=mnli", "early_stopping.patience=2") == EarlyStoppingPlan(
        "mnli/acc_m", "validation_matched", 500, 2, 0.0)
    got = plan_for("task=mnli", "early_stopping.patience=2", "early_stopping.metric=mnli/acc_mm")
    assert (got.metric, got.split) == ("mnli/acc_mm", "validation_mismatched")
    assert plan_for("task=race", "early_stopping.patience=1").split == "validation"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["early_stopping.patience=0"], r"early_stopping\.patience must be a positive integer, got 0"),
        (["early_stopping.patience=2", "early_stopping.every_n_steps=ten"], r"early_stopping\.every_n_steps .*'ten'"),
        (["early_stopping.patience=2", "early_stopping.min_delta=-1"], r"early_stopping\.min_delta .* -1"),
        (["early_stopping.patience=2", "early_stopping.metric=sst2/f1"], r"early_stopping\.metric='sst2/f1'.*sst2/acc"),
        # RACE's test answers are public, but a stopping rule must never look at them
        (["task=race", "early_stopping.patience=2", "early_stopping.metric=race/acc_test"], r"not a dev metric"),
    ],
)
def test_bad_config_names_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        plan_for(*overrides)


def test_callback_state_round_trips():
    a = DevEarlyStopping(EarlyStoppingPlan("sst2/acc", "validation", 1, 2, 0.0), evaluate=lambda m: {})
    a.best, a.best_step, a.bad_evals, a.best_state = 61.0, 4, 1, {"w": torch.ones(2)}
    b = DevEarlyStopping(a.plan, evaluate=lambda m: {})
    b.load_state_dict(a.state_dict())
    assert (b.best, b.best_step, b.bad_evals, b.stopped_step) == (61.0, 4, 1, None)
    assert torch.equal(b.best_state["w"], torch.ones(2))


def test_job_stops_after_patience_and_evaluates_the_best_weights(tmp_path, cache, evaluated_weights, monkeypatch):
    """Scripted dev scores 50, 60, 55, 58, ... at steps 1, 2, 3, 4: with patience 2 the best is step
    2 and the job stops at step 4 of 10; the final evaluation sees step 2's weights."""
    real_evaluate = job.evaluate  # evaluated_weights' recorder, then the real one
    script = iter([50.0, 60.0, 55.0, 58.0, 70.0, 70.0])
    snapshots = {}

    def evaluate(module, task, *args, splits=None, **kwargs):
        if splits is None:  # the job's final evaluation: the real one
            return real_evaluate(module, task, *args, **kwargs)
        assert splits == ["validation"]
        snapshots[len(snapshots) + 1] = {k: v.clone() for k, v in module.state_dict().items()}
        return {"sst2/acc": next(script)}

    monkeypatch.setattr(job, "evaluate", evaluate)
    summary, history = run_job(["task=sst2", "profile=smoke", "profile.finetune.max_steps=10",
                                "early_stopping.patience=2", "early_stopping.every_n_steps=1"], tmp_path)

    assert summary["finetune/steps"] == 4 and summary["finetune/stopped_early"] is True
    assert summary["finetune/best_step"] == 2
    assert "sst2/acc" in summary  # the final, real evaluation
    assert sorted(snapshots) == [1, 2, 3, 4]
    (final,) = evaluated_weights
    assert all(torch.equal(final[k], snapshots[2][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[4][k]) for k in final)  # training did move on
    logged = {r["step"]: r["row"]["early_stopping/sst2/acc"] for r in history if "early_stopping/sst2/acc" in r["row"]}
    assert logged == {0: 50.0, 1: 60.0, 2: 55.0, 3: 58.0}  # at the W&B step of the batch that ends the step


def test_job_scores_only_the_watched_dev_split_at_every_check(tmp_path, cache):
    """Unpatched: the watched metric is computed by the official evaluation at every check."""
    summary, history = run_job(["task=mnli", "profile=smoke", "profile.finetune.max_steps=4",
                                "early_stopping.patience=100", "early_stopping.every_n_steps=2"], tmp_path)
    assert summary["finetune/steps"] == 4 and summary["finetune/stopped_early"] is False
    assert summary["finetune/best_step"] in (2, 4)
    checks = {r["step"]: r["row"] for r in history if "early_stopping/mnli/acc_m" in r["row"]}
    assert sorted(checks) == [1, 3]  # after optimizer steps 2 and 4
    assert all("early_stopping/mnli/acc_mm" not in row for row in checks.values())  # only the watched split
    assert not any(k.startswith("mnli/") for r in history for k in r["row"])  # the final keys stay the final's
