"""Trainers, launchers and data parallelism: the configs compose into valid Lightning/Hydra settings,
a sweep refuses a strategy that re-launches the script, a `trainer=ddp` job keeps W&B and evaluation
on rank 0, and 2 gloo processes x batch 4 follow the loss curve of 1 process x batch 8."""

import json
import os
import subprocess
import sys

import datasets
import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback

from bench.config.compose import compose_config
from bench.data import make_dataloader
from bench.io import CONF_DIR, REPO_ROOT
from bench.jobs.finetune import JobCheckpoint, fit_trainer, trained_module
from bench.jobs.strategy import check_strategy, relaunches_script, store_strategy
from bench.jobs.tracking import is_rank_zero
from bench.results.runs import read_runs
from lightning_modules.finetune import FineTuneModule

ARCH = dict(vocab_size=60, embedding_size=16, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
            max_position_embeddings=32, dropout=0.0, attention_dropout=0.0)
STEPS, GLOBAL_BATCH, EXAMPLES = 8, 8, 32  # 4 steps an epoch: the curve crosses an epoch boundary
# Per-step loss, 2-process mean vs 1 process: float32 sums in another order (the gradient
# all-reduce, batch-4 vs batch-8 matmuls) over 8 Adam steps; measured: 3e-8 (loss), 6e-8 (weights).
LOSS_ATOL = 1e-5
WEIGHT_ATOL = 1e-5


def trainer_cfg(name: str):
    return compose_config([f"trainer={name}"]).trainer


def test_trainer_configs_compose_and_say_what_they_are():
    cpu, gpu, ddp, spawn, fsdp = (trainer_cfg(n) for n in ("cpu", "gpu", "ddp", "ddp_spawn", "fsdp"))
    assert (cpu.accelerator, cpu.precision, cpu.deterministic, cpu.strategy) == ("cpu", "32-true", True, "auto")
    assert (gpu.accelerator, gpu.precision) == ("gpu", "bf16-mixed")
    assert (ddp.strategy, ddp.devices) == ("ddp", 2) and (spawn.strategy, spawn.devices) == ("ddp_spawn", 2)
    assert (fsdp.accelerator, fsdp.strategy, fsdp.precision) == ("gpu", "fsdp", "bf16-mixed")
    for cfg in (cpu, ddp, spawn):  # what can be built without a GPU is a valid Lightning Trainer
        trainer = instantiate(cfg, logger=False, max_steps=1)
        assert trainer.world_size == cfg.devices
    assert relaunches_script(ddp.strategy) and relaunches_script(fsdp.strategy)
    assert not relaunches_script(spawn.strategy) and not relaunches_script(cpu.strategy)


def test_launcher_configs_compose(monkeypatch):
    monkeypatch.setenv("BENCH_N_JOBS", "3")
    joblib = compose_config(["hydra/launcher=joblib"], return_hydra_config=True).hydra.launcher
    assert joblib._target_.endswith("JoblibLauncher") and joblib.n_jobs == 3
    assert compose_config(["hydra/launcher=joblib", "hydra.launcher.n_jobs=4"],
                          return_hydra_config=True).hydra.launcher.n_jobs == 4
    slurm = compose_config(["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu"],
                           return_hydra_config=True).hydra.launcher
    assert slurm._target_.endswith("SlurmLauncher") and slurm.partition == "gpu"
    assert slurm.gpus_per_node >= 1 and slurm.timeout_min > 0
    text = (CONF_DIR / "hydra" / "launcher" / "submitit_slurm.yaml").read_text()
    comments = " ".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    for key in ("partition", "gpus_per_node", "timeout_min", "tasks_per_node"):
        assert key in comments, f"submitit_slurm.yaml does not document {key}"
    assert "n_jobs" in (CONF_DIR / "hydra" / "launcher" / "joblib.yaml").read_text()


def test_rank_zero_from_the_environment(monkeypatch):
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert is_rank_zero()
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("NODE_RANK", "0")
    assert is_rank_zero()
    monkeypatch.setenv("LOCAL_RANK", "1")  # what Lightning's script launcher gives its child
    assert not is_rank_zero()
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("NODE_RANK", "1")  # the first process of the second node
    assert not is_rank_zero()


def test_script_launched_strategy_refused_in_a_sweep_only(monkeypatch):
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    ddp = compose_config(["trainer=ddp"])
    with pytest.raises(ValueError, match="trainer=ddp_spawn"):
        check_strategy(ddp, multirun=True)
    with pytest.raises(ValueError, match="strategy=fsdp"):
        check_strategy(compose_config(["trainer=fsdp"]), multirun=True)
    check_strategy(ddp, multirun=False)  # a single run may re-launch itself
    check_strategy(compose_config(["trainer=ddp_spawn"]), multirun=True)
    check_strategy(compose_config(["trainer=ddp", "trainer.devices=1"]), multirun=True)  # nothing re-launched
    monkeypatch.setenv("SLURM_NTASKS", "2")  # SLURM starts every rank: nothing re-launched either
    check_strategy(ddp, multirun=True)


def test_sweep_with_ddp_stops_before_any_run(tmp_path):
    """The real command: `-m trainer=ddp` fails at once, names the fix, and leaves no W&B run."""
    sweep = tmp_path / "sweep"
    out = subprocess.run(
        [sys.executable, "-m", "bench.jobs.run", "-m", "profile=smoke", "trainer=ddp", "seed=0,1",
         f"hydra.sweep.dir={sweep}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "BENCH_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert out.returncode != 0
    assert "trainer=ddp_spawn" in out.stderr and "multirun" in out.stderr
    assert not list(sweep.rglob("*.wandb")) and not (tmp_path / "cache" / "jobs").exists()


def test_ddp_job_owns_wandb_and_evaluates_on_rank_0_only(tmp_path):
    """`bench-run trainer=ddp`: Lightning re-runs the command for rank 1; rank 1 trains along but
    opens no W&B run and evaluates nothing; rank 0 evaluates every example after fit."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env["BENCH_CACHE_DIR"] = str(tmp_path / "cache")
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "bench.jobs.run", "profile=smoke", "task=sst2", "trainer=ddp",
                          f"hydra.run.dir={run_dir}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (run_dir / "train_ddp_process_1.log").exists()  # rank 1 did run this job
    runs = read_runs(run_dir)
    assert len(runs) == 1 and len(list(run_dir.rglob("*.wandb"))) == 1
    run = runs.iloc[0]
    assert run.state == "finished" and run["summary.finetune/world_size"] == 2
    assert run["summary.finetune/steps"] == 3 and 0 <= run["summary.sst2/acc"] <= 100


# ---------------------------------------------------------------------------------------------
# Same loss curve: 2 processes x 4 examples vs 1 process x 8 examples


class StepRecorder(Callback):
    """Per rank: the loss and the examples (their token sums) of every step, written at the end."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.losses: list[float] = []
        self.examples: list[list[int]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))
        self.examples.append(sorted(int(x) for x in batch["input_ids"].sum(dim=1)))

    def on_train_end(self, trainer, pl_module) -> None:
        path = f"{self.out_dir}/steps-rank{trainer.global_rank}.json"
        with open(path, "w") as f:
            json.dump({"losses": self.losses, "examples": self.examples}, f)


def fixed_features() -> datasets.Dataset:
    g = np.random.default_rng(0)
    rows: dict[str, list] = {"input_ids": [], "attention_mask": [], "token_type_ids": [], "labels": []}
    for _ in range(EXAMPLES):
        n = int(g.integers(6, 20))
        ids = [2, *g.integers(5, ARCH["vocab_size"], n - 2).tolist(), 3]
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * n)
        rows["token_type_ids"].append([0] * n)
        rows["labels"].append(int(sum(ids) % 2))
    return datasets.Dataset.from_dict(rows)


def fit(out_dir, strategy: str, devices: int):
    L.seed_everything(0)
    module = FineTuneModule(ARCH, "classification", num_labels=2, lr=3e-3, warmup_ratio=0.0, total_steps=STEPS,
                            classifier_dropout=0.0, seed=0)
    trainer = L.Trainer(
        accelerator="cpu", devices=devices, strategy=strategy, max_steps=STEPS, deterministic=True, logger=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        use_distributed_sampler=False,  # as the job: the length-grouped sampler shards itself by rank
        callbacks=[StepRecorder(str(out_dir)), JobCheckpoint(out_dir / "last.ckpt")],
    )
    # The job's loader, in order: batch b of rank r is per-device batch 2b + r, so the global batch
    # of step b is examples 8b..8b+7, exactly the single process's batch b.
    loader = make_dataloader(fixed_features(), GLOBAL_BATCH // devices, shuffle=False, seed=0, pad_id=0,
                             group_by_length=False)
    trainer.fit(module, loader)
    return trainer, module


def test_two_gloo_processes_follow_the_single_process_loss_curve(tmp_path):
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    single_dir.mkdir()
    ddp_dir.mkdir()
    _, single = fit(single_dir, "auto", 1)
    trainer, main_module = fit(ddp_dir, "ddp_spawn", 2)

    one = json.loads((single_dir / "steps-rank0.json").read_text())
    ranks = [json.loads((ddp_dir / f"steps-rank{r}.json").read_text()) for r in (0, 1)]
    assert len(one["losses"]) == STEPS and all(len(r["losses"]) == STEPS for r in ranks)
    for step in range(STEPS):
        assert sorted(ranks[0]["examples"][step] + ranks[1]["examples"][step]) == one["examples"][step], step
    # each rank's loss is the mean over its 4 examples: their mean is the mean over the 8
    mean = (np.array(ranks[0]["losses"]) + np.array(ranks[1]["losses"])) / 2
    np.testing.assert_allclose(mean, one["losses"], rtol=0, atol=LOSS_ATOL)
    assert abs(one["losses"][-1] - one["losses"][0]) > 100 * LOSS_ATOL  # the curve moved: a real comparison
    # what the module logs under DDP is that global-batch loss (callback metrics come back from the workers)
    assert float(trainer.callback_metrics["train/loss"]) == pytest.approx(one["losses"][-1], abs=LOSS_ATOL)

    # ddp_spawn trained copies in its workers: the main process holds rank 0's weights again
    # (Lightning 2.6 loads them back; not the step count: its trainer.global_step stays 0), and the
    # job evaluates the same weights from last.ckpt.
    evaluated, steps = trained_module(trainer, main_module, ddp_dir / "last.ckpt")
    assert steps == STEPS and evaluated is not main_module
    ref = single.state_dict()
    for name, value in evaluated.state_dict().items():
        torch.testing.assert_close(value, ref[name], rtol=0, atol=WEIGHT_ATOL, msg=name)
        torch.testing.assert_close(main_module.state_dict()[name], value, rtol=0, atol=0, msg=name)



def test_pretraining_job_spawns_instead_of_relaunching(monkeypatch):
    """A pretraining runs under the store's lock: a re-launched rank would wait on it forever."""
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    cfg = compose_config(["trainer=ddp", "job_type=pretrain", "objective=bert"])
    check_strategy(cfg, multirun=False)
    assert store_strategy(cfg).trainer.strategy == "ddp_spawn"
    assert cfg.trainer.strategy == "ddp"  # a copy: a fine-tuning job keeps ddp (only its pretraining part spawns)
    spawn = compose_config(["trainer=ddp_spawn", "job_type=pretrain", "objective=bert"])
    assert store_strategy(spawn) is spawn
    monkeypatch.setenv("SLURM_NTASKS", "4")
    with pytest.raises(ValueError, match="tasks_per_node=1 with trainer=ddp_spawn"):
        check_strategy(compose_config(["trainer=ddp", "job_type=pretrain", "objective=bert"]), multirun=False)
    check_strategy(compose_config(["trainer=ddp", "objective=bert"]), multirun=False)  # fine-tuning: SLURM's ranks


def test_ranks_agree_to_stop_on_a_non_finite_loss():
    """A rank whose own loss is finite still stops when another rank's is not: the decision is
    taken on the global batch's loss (an all-reduce), so none is left waiting in the next one."""

    class Strategy:
        def reduce(self, tensor, reduce_op="mean"):
            return torch.full_like(tensor, float("nan"))  # another rank's loss was NaN

    class Trainer:
        world_size, global_rank, global_step, strategy = 2, 0, 5, Strategy()

    module = FineTuneModule(ARCH, "classification", num_labels=2, seed=0)
    module._trainer = Trainer()
    batch = {"input_ids": torch.tensor([[2, 7, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long),
             "token_type_ids": torch.zeros(1, 3, dtype=torch.long), "labels": torch.tensor([1])}
    assert torch.isfinite(module.loss(module(batch), batch))
    with pytest.raises(FloatingPointError, match="^non-finite training loss nan at step 5$"):
        module.training_step(batch, 0)


def test_divergence_in_a_spawned_worker_is_a_divergence():
    """ddp_spawn re-raises a worker's error as ProcessRaisedException (text only): the job turns a
    worker's FloatingPointError back into one, so the run is recorded as diverged, not failed."""

    class Trainer:
        def fit(self, *args, **kwargs):
            raise torch.multiprocessing.ProcessRaisedException(
                "\n\n-- Process 1 terminated with the following error:\nTraceback (most recent call last):\n"
                "  ...\nFloatingPointError: non-finite training loss on rank 1 at step 2 (nan)\n", 1, 4242)

    with pytest.raises(FloatingPointError, match=r"^non-finite training loss on rank 1 at step 2 \(nan\)$"):
        fit_trainer(Trainer(), None, None, None)
