"""The fine-tuning job in three steps: `prepare` (data, encoder, module), `fit` (in the job dir,
resumable), `score` (rank 0: dev metrics and prediction files); `finetune` runs them."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from bench.config.architecture import effective_encoder_config
from bench.data import build_features, get_tokenizer, load_task, make_dataloader, special_ids
from bench.data.identity import tokenizer_info, tokenizer_source
from bench.jobs.early_stopping import DevEarlyStopping, EarlyStoppingPlan, early_stopping_plan
from bench.jobs.encoders import resolve_encoder
from bench.jobs.finetune.evaluation import eval_device, evaluate, predictions_dir, write_test_predictions
from bench.jobs.finetune.hparams import finetune_arch, finetune_hparams, head_dropout, hparams_config
from bench.jobs.finetune.restart import (
    HISTORY_FILE,
    LAST_CKPT,
    EpochOrder,
    JobCheckpoint,
    ResumableWandbLogger,
    check_resume_data,
    checkpoint_cadence,
)
from bench.jobs.finetune.weights import (
    check_resume_checkpoint,
    encoder_source,
    load_encoder_state,
    start_over_hint,
    trained_module,
)
from bench.jobs.interrupts import stop_if_requested
from bench.jobs.strategy import store_strategy
from bench.jobs.tracking import data_identity, is_rank_zero
from bench.store.checkpoints import read_resume_checkpoint
from lightning_modules.encoder import EncoderConfig, count_config_parameters
from lightning_modules.finetune import FineTuneModule

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything a job fits and scores, built before any training."""

    cfg: DictConfig
    hp: dict
    examples: Any  # the task's examples by split
    tokenizer: Any
    pad_id: int
    arch: EncoderConfig  # the encoder as pretrained (or imported)
    encoder_info: dict  # summary entries: init, head_input, pretraining metrics, tokenizer/*
    train: Any  # the training features
    max_steps: int
    plan: EarlyStoppingPlan | None
    module: FineTuneModule

    def scores(self, module, out_dir: Path | None = None, splits=None) -> dict[str, float]:
        return evaluate(module, self.cfg.task, self.cfg.data, self.tokenizer, self.examples, self.hp, self.pad_id,
                        out_dir=out_dir, splits=splits)


@dataclass
class Fitted:
    module: FineTuneModule  # the weights to score, in this process (the best ones under early stopping)
    steps: int
    world_size: int
    stopper: DevEarlyStopping | None


def prepare(cfg: DictConfig) -> Prepared:
    task = cfg.task
    # First: it refuses a bad task or hyperparameter before the world, the tokenizer or a pretraining is made.
    hp = finetune_hparams(cfg)
    checkpoint_cadence(cfg)
    examples = load_task(task, cfg.data)
    tokenizer = get_tokenizer(cfg.data, task.language)
    pad_id = special_ids(tokenizer).pad
    vocab = tokenizer.get_vocab_size()
    arch = effective_encoder_config(cfg, vocab_size=vocab)
    uses_store = str(cfg.objective.name) != "none"
    encoder_state, arch, info = resolve_encoder(store_strategy(cfg) if uses_store else cfg, arch)
    info.update(tokenizer_info(tokenizer, tokenizer_source(cfg.data, task.language)))
    if arch.vocab_size < vocab:  # an imported checkpoint whose own tokenizer has ids past its embeddings
        raise ValueError(f"{info.get('init')}: the checkpoint's vocabulary has {arch.vocab_size} tokens but its "
                         f"tokenizer ({info['tokenizer/source']}) has {vocab}: ids past the embeddings")
    plan = early_stopping_plan(cfg, task)
    train = build_features(task, cfg.data, tokenizer, task.splits.train, hp["max_length"], hp.get("doc_stride"))
    max_steps = int(hp.get("max_steps") or math.ceil(len(train) / hp["batch_size"]) * hp["epochs"])
    # Seeded here, after the encoder is resolved: a store miss pretrains it in this process, which
    # draws from the global RNG, and the head's init must not depend on whether the store had it.
    L.seed_everything(cfg.seed, workers=True)
    module = FineTuneModule(
        finetune_arch(arch, hp), task.type, num_labels=len(task.label_names) if task.get("label_names") else None,
        lr=hp["lr"], weight_decay=hp["weight_decay"], warmup_ratio=hp["warmup_ratio"], total_steps=max_steps,
        seed=cfg.seed, use_pooler=info["head_input"] == "pooler", **head_dropout(hp),
    )
    if encoder_state is not None:
        load_encoder_state(module, encoder_state, lambda: encoder_source(cfg, arch, str(info.get("init"))))
    return Prepared(cfg, hp, examples, tokenizer, pad_id, arch, info, train, max_steps, plan, module)


def config_callbacks(cfg: DictConfig) -> list[Callback]:
    """The config's `callbacks`: extra Lightning callbacks, name -> {_target_: class, its arguments}."""
    out = []
    for name, node in (cfg.get("callbacks") or {}).items():
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ValueError(f"callbacks.{name}: a Lightning callback needs a _target_ (its class), got {node!r}")
        out.append(instantiate(node))
    return out


def fit(job: Prepared, job_dir: Path, run) -> Fitted | None:
    """Fit in `job_dir`, resuming from its `last.ckpt`; the trained weights in rank 0, None elsewhere."""
    stop_if_requested()  # a stop signal during the preparation's last steps (a pretraining's)
    cfg, hp, module = job.cfg, job.hp, job.module
    last = job_dir / LAST_CKPT
    resume = check_resume_checkpoint(last, module) if last.exists() else None
    if is_rank_zero():
        check_resume_data(job_dir, data_identity(cfg), resuming=resume is not None)
    logger, callbacks = False, [JobCheckpoint(last, *checkpoint_cadence(cfg)), EpochOrder()]
    if run is not None:
        logger = ResumableWandbLogger(run, job_dir / HISTORY_FILE)
        if resume is not None:
            logger.replay(before_step=resume["global_step"])
    stopper = None
    if job.plan is not None:
        stopper = DevEarlyStopping(job.plan, lambda m: job.scores(m, splits=[job.plan.split]))
        callbacks.append(stopper)
    callbacks.extend(config_callbacks(cfg))
    trainer: L.Trainer = instantiate(
        cfg.trainer, max_steps=job.max_steps, callbacks=callbacks, default_root_dir=str(job_dir), logger=logger,
        gradient_clip_val=hp.get("gradient_clip_val"),
        num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False,
    )  # checkpointing stays enabled: JobCheckpoint is the fit's Checkpoint, so Lightning adds none of its own
    world = trainer.world_size
    if stopper is not None and world > 1:
        raise ValueError(f"early_stopping.patience is set, but the trainer runs {world} processes: early stopping "
                         f"evaluates inside the one training process; unset it or use one device")
    if hp["batch_size"] % world:
        raise ValueError(f"batch_size={hp['batch_size']} (the global batch) is not divisible by the {world} "
                         f"processes of trainer.devices x trainer.num_nodes")
    # resumable: the checkpoint holds its position, which Lightning hands back to it
    loader = make_dataloader(job.train, hp["batch_size"] // world, shuffle=True, seed=cfg.seed, pad_id=job.pad_id)
    fit_trainer(trainer, module, loader, str(last) if resume is not None else None)
    stop_if_requested()  # a signal during the last step: last.ckpt is written, scoring waits for the re-run
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # the evaluation must not shard its batches
    if not is_rank_zero():
        return None
    trained, steps = trained_module(trainer, module, last)
    if stopper is not None:
        stopper.restore_best(trained)
    return Fitted(trained, steps, world, stopper)


def fit_trainer(trainer: L.Trainer, module: FineTuneModule, loader, ckpt_path: str | None) -> None:
    """trainer.fit (a checkpoint loaded with weights_only=True), with a divergence inside a spawned
    worker reported as a divergence."""
    try:
        trainer.fit(module, loader, ckpt_path=ckpt_path, weights_only=True)
    except torch.multiprocessing.ProcessRaisedException as e:
        if "FloatingPointError" in str(e):
            lines = [x for x in str(e).strip().splitlines() if "FloatingPointError" in x]
            raise FloatingPointError(lines[-1].split("FloatingPointError:", 1)[-1].strip()) from e
        raise


def score(job: Prepared, fitted: Fitted, job_dir: Path, run) -> dict:
    """The job's summary: the encoder's sizes and origin, the fit, the dev metrics; prediction files."""
    cfg, task = job.cfg, job.cfg.task
    module = fitted.module.to(eval_device(cfg.trainer))
    # the encoder as pretrained, pooler included (the fine-tuned head may skip it)
    summary = {f"params/{k}": v for k, v in count_config_parameters(job.arch).items() if k != "pooler"}
    summary.update(job.encoder_info)
    summary["finetune/steps"] = fitted.steps
    summary["finetune/world_size"] = fitted.world_size
    if fitted.stopper is not None:
        summary.update(fitted.stopper.summary())
    out_dir = predictions_dir(job_dir, run)
    summary.update(job.scores(module, out_dir))
    if cfg.get("predict_test"):
        if not task.get("submission"):
            log.warning("predict_test: task %s has no GLUE submission format (conf/task/%s.yaml: submission); "
                        "no test predictions written", task.name, task.name)
        for path in write_test_predictions(module, task, cfg.data, job.tokenizer, job.examples, job.hp, job.pad_id,
                                           out_dir):
            log.info("test predictions: %s", path)
    if any(out_dir.iterdir()):
        summary["predictions_dir"] = str(out_dir)
    return summary


def finetune(cfg: DictConfig, run) -> dict:
    """job_type=finetune, in the job dir that `run_tracked` chose (`cfg.job_dir`)."""
    job_dir = Path(cfg.job_dir)
    if (job_dir / LAST_CKPT).exists():  # a damaged or foreign file stops the job before any data or pretraining
        read_resume_checkpoint(job_dir / LAST_CKPT, start_over_hint(job_dir))
    job = prepare(cfg)
    if run is not None:  # what it trains with: command line > profile > task spec
        run.config.update(hparams_config(job.hp), allow_val_change=True)
    fitted = fit(job, job_dir, run)
    return {} if fitted is None else score(job, fitted, job_dir, run)
