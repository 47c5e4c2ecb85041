"""What a job's W&B run holds, read back from its offline run file: a pretrain job's curves (loss, lr,
tokens/s against the trainer's step; held-out loss and perplexity) and its encoder as a model artifact;
a fine-tuning run on that stored encoder names it (no second artifact) and logs its prediction files.
(A sweep's fine-tuning runs that trained their own encoder: test_sweeps.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lightning.pytorch.callbacks import Callback
from omegaconf import open_dict

from bench.config.compose import compose_config
from bench.jobs.run import job_function
from bench.jobs.tracking import run_name, run_tracked
from bench.results.runfile import read_run_file
from bench.store.checkpoints import CheckpointStore
from tests.support.checks import check_finetune_run

PRETRAIN = ["job_type=pretrain", "objective=roberta", "profile=smoke", "trainer.log_every_n_steps=1"]
FINETUNE = ["task=squad_v2", "objective=roberta", "profile=smoke", "trainer.log_every_n_steps=1"]


def _run(overrides: list[str], wandb_dir: Path) -> dict:
    cfg = compose_config(overrides)
    with open_dict(cfg):
        cfg.logger.dir = str(wandb_dir)
    return run_tracked(cfg, run_name(overrides, cfg.job_type), job_function(cfg.job_type), reraise=True)


def test_pretrain_curves_artifact_and_lineage_to_a_finetuning_run(tmp_path, cache, read_settled_runs):
    assert _run(PRETRAIN, tmp_path / "pretrain")["status"] == "finished"
    (pre,) = read_settled_runs(tmp_path / "pretrain", history=True).to_dict("records")
    hist = pre["history"]
    train = hist[hist["pretrain/loss"].notna()]
    assert list(train["trainer/global_step"]) == [0, 1, 2]  # the smoke budget: 3 steps, one row each
    assert (train["pretrain/lr"] > 0).all() and (train["pretrain/tokens_per_s"].dropna() > 0).all()
    assert train["pretrain/tokens_per_s"].notna().sum() == 2  # none for the first step: no interval yet
    val = hist[hist["pretrain/val_ppl"].notna()]
    assert len(val) == 1 and val["pretrain/val_mlm_loss"].notna().all()
    assert pre["summary.pretrain/val_ppl"] == float(val["pretrain/val_ppl"].iloc[0])
    assert read_run_file(pre["file"]).metrics["pretrain/*"] == "trainer/global_step"
    assert pre["config.env.torch"] and pre["config.env.lightning"] and pre["config.env.cpu_count"] >= 1

    (entry,) = [p for p in CheckpointStore(cache / "store").root.iterdir() if p.is_dir() and p.name not in ("locks", "work")]
    (art,) = json.loads(pre["artifacts"])
    assert (art["name"], art["type"]) == (f"encoder-{entry.name}", "model") and pre["config.encoder_artifact"] == art["name"]
    assert set(art["files"]) == {p.name for p in entry.iterdir()} >= {"model.safetensors", "config.json", "history.jsonl"}
    stored = [json.loads(line) for line in (entry / "history.jsonl").read_text().splitlines()]
    assert [row["step"] for row in stored] == list(hist.index)  # the entry keeps the curves it was trained with

    summary = _run(FINETUNE, tmp_path / "finetune")
    assert summary["status"] == "finished" and summary["init"] == "store:roberta"
    (ft,) = read_settled_runs(tmp_path / "finetune", history=True).to_dict("records")
    check_finetune_run(ft, logged_encoder=False)  # used, not trained here: named in the config only
    assert ft["config.encoder_store_key"] == entry.name
    (pred,) = json.loads(ft["artifacts"])
    assert pred["name"] == f"predictions-{ft['run_id']}" and pred["type"] == "predictions"
    assert set(pred["files"]) == {p.name for p in Path(summary["predictions_dir"]).iterdir()}
    assert "validation_predictions.json" in pred["files"]


class _FailAt(Callback):
    """Raise at the `step`-th optimizer step, before that step's checkpoint and row (a crash mid-fit)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError(f"injected failure at step {trainer.global_step}")


def test_a_resumed_pretraining_logs_each_step_once(tmp_path, cache, monkeypatch, read_settled_runs):
    """A pretrain job that failed mid-fit resumes from the store's work dir under the same W&B run id: the
    rows before its checkpoint are replayed into the new offline directory, so the merged run has each
    step once, as an uninterrupted run."""
    import bench.jobs.pretrain as job

    real = job.pretraining_trainer
    monkeypatch.setattr(job, "pretraining_trainer", lambda work_dir, obj, **kw: real(work_dir, obj, callbacks=[_FailAt(2)], **kw))
    with pytest.raises(RuntimeError, match="injected failure at step 2"):
        _run(PRETRAIN, tmp_path / "w")
    assert list((cache / "store" / "work").rglob("last.ckpt"))  # the step-1 checkpoint (smoke: every step)
    monkeypatch.setattr(job, "pretraining_trainer", real)
    assert _run(PRETRAIN, tmp_path / "w")["status"] == "finished"
    (run,) = read_settled_runs(tmp_path / "w", history=True).to_dict("records")
    assert run["resumed"] and run["state"] == "finished"
    train = run["history"][run["history"]["pretrain/loss"].notna()]
    assert list(train["trainer/global_step"]) == [0, 1, 2]
    first, second = (read_run_file(p) for p in sorted((tmp_path / "w").rglob("run-*.wandb"), key=lambda p: p.parent.name))
    assert [step for step, _ in first.history] == [0]  # the failed attempt logged step 0, then raised in step 1
    assert [step for step, _ in second.history][:3] == [0, 1, 2]  # step 0 replayed from history.jsonl
