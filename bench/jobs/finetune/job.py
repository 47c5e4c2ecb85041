"""The fine-tuning job: resolve the encoder, fine-tune on one task, evaluate on its dev sets.

Everything task-specific comes from the task spec (`conf/task/*.yaml`): its type picks the head
and the metric inputs, its eval splits and suffixes name the logged keys (`mnli/acc_m`).

Faults and scale:
- the fit checkpoints every epoch into the job dir; a restarted job resumes from `last.ckpt` after
  checking that it holds this job's architecture (a clear error naming the file otherwise);
- weights from the store or a checkpoint that do not fit the model fail with the file and the
  mismatching keys named, before any training;
- `batch_size` is the global batch: under DDP each of the N processes takes batch_size / N, and the
  length-grouped batch sampler shards itself (every N-th batch), so Lightning's sampler is off;
- evaluation runs once, in the rank-0 process, after fit: with several processes (ddp, ddp_spawn,
  fsdp) on the weights of `last.ckpt`, the full state that Lightning writes from rank 0 at the end;
- opt-in early stopping (`early_stopping.patience`, bench/jobs/early_stopping.py) scores a dev split during
  the fit (one process only) and puts the best weights back before that evaluation.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from bench.config.architecture import effective_encoder_config
from bench.data import build_features, get_tokenizer, load_task, make_dataloader, special_ids
from bench.io import atomic_write_text
from bench.jobs.early_stopping import DevEarlyStopping, early_stopping_plan
from bench.jobs.encoders import resolve_encoder
from bench.jobs.tracking import is_rank_zero, relaunches_script
from lightning_modules.encoder import count_config_parameters
from lightning_modules.finetune import TASK_TYPES, FineTuneModule
from lightning_modules.metrics import compute_task_metrics

log = logging.getLogger(__name__)

# Tests only: SIGKILL this process once the trainer has made this many optimizer steps (a
# preemption at a known point, after an epoch-end checkpoint).
KILL_AT_STEP_ENV = "BENCH_TEST_KILL_AT_STEP"
LAST_CKPT = "last.ckpt"
HISTORY_FILE = "history.jsonl"


def finetune_hparams(cfg: DictConfig) -> dict:
    """The task's (paper) hyperparameters, replaced by the profile's where it sets them, then by the
    profile's entry for the task's type (`profile.finetune_by_type.<type>`), where it has one."""
    by_type_cfg = cfg.profile.get("finetune_by_type")
    by_type = OmegaConf.to_container(by_type_cfg, resolve=True) if by_type_cfg is not None else {}
    for name in by_type:
        if name not in TASK_TYPES:
            raise ValueError(f"profile.finetune_by_type.{name}: not a task type (one of {', '.join(TASK_TYPES)})")
    hp = OmegaConf.to_container(cfg.task.hparams, resolve=True)
    for block in (OmegaConf.to_container(cfg.profile.finetune, resolve=True), by_type.get(cfg.task.type) or {}):
        for k, v in block.items():
            if v is not None:
                hp[k] = v
    for key in ("dropout", "classifier_dropout"):
        if hp.get(key) is not None and not 0.0 <= float(hp[key]) < 1.0:
            raise ValueError(f"{key}: {hp[key]!r} (task {cfg.task.name}) is not a probability in [0, 1)")
    return hp


def finetune_arch(arch, hp: dict) -> dict:
    """The encoder config the fine-tuning module is built with: the pretrained architecture, with the
    task's fine-tuning dropout where one is set (`dropout`: hidden and attention dropout, ALBERT's
    per-task "ALBERT DR"; the head's is `classifier_dropout`, 0.1 by default, its "Classifier DR").
    No weight depends on either."""
    d = arch.to_dict()
    if hp.get("dropout") is not None:
        d.update(dropout=float(hp["dropout"]), attention_dropout=float(hp["dropout"]))
    return d


def head_dropout(hp: dict) -> dict:
    """FineTuneModule's `classifier_dropout` keyword where the task sets one (else the module's default)."""
    return {"classifier_dropout": float(hp["classifier_dropout"])} if hp.get("classifier_dropout") is not None else {}


# ---------------------------------------------------------------------------------------------
# Logging that survives a restart


class ResumableWandbLogger(WandbLogger):
    """Lightning's WandbLogger with the W&B step = the trainer's step, every row also appended to
    `<job_dir>/history.jsonl` (flushed: it survives a SIGKILL, the W&B file's tail does not).

    Offline W&B cannot resume a run and a killed writer loses its unflushed tail; a resumed job
    `replay`s the rows before its checkpoint's step into the new W&B directory, and the run
    reader, which lets a later directory replace an earlier one from its first step on, gets
    every step exactly once (see `bench.jobs.tracking`). The job's resolved config is the run's config
    already, so module hyperparameters are not logged again as top-level keys.
    """

    def __init__(self, run, history_file: Path) -> None:
        super().__init__(experiment=run)
        self.history_file = Path(history_file)

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        return None

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        row = {k: float(v) for k, v in metrics.items()}
        if step is None:
            self.experiment.log(row)
            return
        row["trainer/global_step"] = int(step)
        with open(self.history_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": int(step), "row": row}) + "\n")
        self.experiment.log(row, step=int(step))

    def replay(self, before_step: int) -> int:
        """Log again the rows an earlier attempt logged before `before_step` (the resumed run's
        first rows) and forget the later ones, which the resumed training logs anew."""
        rows: list[dict] = []
        if self.history_file.exists():
            for line in self.history_file.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except ValueError:  # a line cut by the kill
                    break
                if int(item["step"]) < before_step:
                    rows.append(item)
        atomic_write_text(self.history_file, "".join(json.dumps(r) + "\n" for r in rows))
        for item in rows:
            self.experiment.log(item["row"], step=int(item["step"]))
        return len(rows)


class JobCheckpoint(Callback):
    """`last.ckpt` after the last batch of every epoch, and when training ends.

    Saved at the epoch's last `on_train_batch_end`, the one place Lightning 2.6 resumes from
    exactly: from a checkpoint written in `on_train_epoch_end` (ModelCheckpoint's default) an
    iteration-based (max_steps) fit re-runs one batch. Lightning writes a temporary file and renames it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx + 1 >= trainer.num_training_batches:
            trainer.save_checkpoint(self.path)

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.save_checkpoint(self.path)


class EpochOrder(Callback):
    """Gives each epoch its own batch order: Lightning 2.6 calls `set_epoch` only on
    `loader.sampler` and `loader.batch_sampler.sampler`, never on a batch sampler itself."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        set_loader_epoch(trainer.train_dataloader, trainer.current_epoch)


def set_loader_epoch(loader, epoch: int) -> None:
    batch_sampler = getattr(loader, "batch_sampler", None)
    if callable(getattr(batch_sampler, "set_epoch", None)):
        batch_sampler.set_epoch(epoch)


class KillAtStep(Callback):
    """A preemption for the resume tests: SIGKILL, no cleanup, like a node going away."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# Checking weights before they are used


def state_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, Any], limit: int = 6) -> str:
    """'' when `found` fits `expected` (same keys, same shapes), else what differs, keys named."""

    def names(keys: list[str]) -> str:
        return ", ".join(keys[:limit]) + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")

    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{k} {list(found[k].shape)} where the model has {list(expected[k].shape)}"
              for k in sorted(set(expected) & set(found))
              if hasattr(found[k], "shape") and tuple(found[k].shape) != tuple(expected[k].shape)]
    parts = []
    if shapes:
        parts.append(f"shape mismatch for {names(shapes)}")
    if missing:
        parts.append(f"missing {names(missing)}")
    if unexpected:
        parts.append(f"unexpected {names(unexpected)}")
    return "; ".join(parts)


def _arch_text(module: FineTuneModule) -> str:
    c = module.encoder.cfg
    return (f"vocab_size={c.vocab_size}, embedding_size={c.embedding_size}, hidden_size={c.hidden_size}, "
            f"num_layers={c.num_layers}, num_heads={c.num_heads}, intermediate_size={c.intermediate_size}, "
            f"sharing={c.sharing}")


def encoder_source(cfg: DictConfig, arch, init: str) -> str:
    """The file an encoder state came from, for error messages (computed only when one is needed)."""
    if init.startswith("store:"):
        from bench.jobs.pretrain import store_entry
        from bench.store.checkpoints import WEIGHTS

        return str(store_entry(cfg, arch) / WEIGHTS)
    return init


def load_encoder_state(module: FineTuneModule, state: Mapping[str, torch.Tensor], source: Callable[[], str]) -> None:
    """Load a pretrained or imported encoder; `source()` names its file when it does not fit.

    A module whose head reads the [CLS] hidden state has no pooler: the state's pooler is left out.
    """
    if module.encoder.pooler is None:
        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    problems = state_mismatch(module.encoder.state_dict(), state)
    if problems:
        raise ValueError(f"{source()}: its encoder weights do not fit the configured model ({_arch_text(module)}): "
                         f"{problems}")
    module.encoder.load_state_dict(state)


def check_resume_checkpoint(path: Path, module: FineTuneModule) -> dict[str, int]:
    """A job dir's `last.ckpt` must be readable and hold this job's module, or the job stops here.

    Returns where it stands: {"global_step": optimizer steps done, "epoch": the epoch it ended}.
    """
    hint = f"delete {path.parent} to start this job over"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"{path}: cannot read this job's resume checkpoint ({type(e).__name__}: {e}); {hint}") from e
    state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a Lightning checkpoint (no state_dict); {hint}")
    problems = state_mismatch(module.state_dict(), state)
    if problems:
        raise ValueError(f"{path}: a checkpoint of another architecture than this job's ({_arch_text(module)}): "
                         f"{problems}; {hint}")
    return {"global_step": int(ckpt.get("global_step", 0)), "epoch": int(ckpt.get("epoch", 0))}


# ---------------------------------------------------------------------------------------------
# Evaluation


def predict(module: FineTuneModule, dataset, batch_size: int, pad_id: int) -> list[np.ndarray]:
    """Per-feature outputs in dataset order; batches are built from length-sorted features."""
    # a multiple-choice feature holds one row per option, of different lengths: its longest is what pads
    ragged = module.task_type == "multiple_choice"
    lengths = np.array([max(map(len, x)) if ragged else len(x) for x in dataset["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    loader = make_dataloader(dataset.select(order.tolist()), batch_size, shuffle=False, seed=0, pad_id=pad_id,
                             group_by_length=False)
    device = next(module.parameters()).device
    outs: list[np.ndarray] = []
    module.eval()
    with torch.inference_mode():
        for batch in loader:
            inputs = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
            logits = module(inputs).float().cpu().numpy()
            mask = batch["attention_mask"].numpy()
            for i in range(logits.shape[0]):
                if module.task_type == "span_qa":  # trim the padding: [T_i, 2]
                    outs.append(logits[i, : int(mask[i].sum())])
                else:
                    outs.append(logits[i])
    if len(outs) != len(order):
        raise RuntimeError(f"evaluation saw {len(outs)} of {len(order)} features (a sharded loader outside training?)")
    result: list[np.ndarray] = [None] * len(outs)  # type: ignore[list-item]
    for pos, idx in enumerate(order):
        result[idx] = outs[pos]
    return result


def evaluate(module, task: DictConfig, data_cfg, tokenizer, examples_by_split, hp, pad_id,
             out_dir: Path | None = None, splits: Sequence[str] | None = None) -> dict[str, float]:
    """The spec's metrics on every dev split (or only `splits`); SQuAD also writes the official
    scripts' prediction files to `out_dir` (`<split>_predictions.json`,
    `<split>_nbest_predictions.json`, v2: `<split>_null_odds.json`)."""
    results: dict[str, float] = {}
    for split, suffix in task.splits.eval.items():
        if splits is not None and split not in splits:
            continue
        examples = examples_by_split[split]
        features = build_features(task, data_cfg, tokenizer, split, hp["max_length"], hp.get("doc_stride"))
        outs = predict(module, features, hp.get("eval_batch_size", 64), pad_id)
        if task.type == "span_qa":
            inputs = dict(examples=examples, features=features,
                          start_logits=[o[:, 0] for o in outs], end_logits=[o[:, 1] for o in outs])
            if out_dir is not None:
                inputs.update(output_dir=out_dir, prefix=split)
        elif task.type == "multiple_choice":
            inputs = dict(logits=np.stack(outs), labels=np.array(features["labels"]),
                          example_ids=list(examples["example_id"]))
        else:
            inputs = dict(preds=np.stack(outs), labels=np.array(features["labels"]))
        metrics = compute_task_metrics(task.type, list(task.metrics), **inputs)
        results.update({f"{task.name}/{k}{suffix or ''}": float(v) for k, v in metrics.items()})
    return results


def write_test_predictions(module, task: DictConfig, data_cfg, tokenizer, examples_by_split, hp, pad_id,
                           out_dir: Path) -> list[Path]:
    """GLUE submission files for the test splits the spec's `submission` names: `<out_dir>/<SST-2>.tsv`
    with a header `index<TAB>prediction` and one row per test example (its hub `idx`), the label as
    its name (MNLI, QNLI, RTE), its index, or the STS-B score, as the GLUE server reads them."""
    sub = task.get("submission") or {}
    written = []
    for split, stem in (sub.get("files") or {}).items():
        features = build_features(task, data_cfg, tokenizer, split, hp["max_length"], hp.get("doc_stride"))
        outs = np.stack(predict(module, features, hp.get("eval_batch_size", 64), pad_id))
        index = examples_by_split[split]["idx"]
        if sub["labels"] == "scores":
            preds = [f"{v:.3f}" for v in outs.reshape(-1)]
        else:
            ids = outs.argmax(-1).tolist()
            preds = [task.label_names[i] for i in ids] if sub["labels"] == "names" else [str(i) for i in ids]
        path = out_dir / f"{stem}.tsv"
        atomic_write_text(path, "index\tprediction\n" + "".join(f"{i}\t{p}\n" for i, p in zip(index, preds)))
        written.append(path)
    return written


def predictions_dir(cfg: DictConfig, run) -> Path:
    """Where a job's prediction files go: the W&B run's own files (kept and synced with the run, never
    shared with another attempt), or `<job_dir>/predictions` when no run records the job."""
    out = Path(run.dir) / "predictions" if run is not None else Path(cfg.job_dir) / "predictions"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _eval_device(cfg: DictConfig) -> torch.device:
    accel = str(cfg.trainer.get("accelerator", "cpu"))
    return torch.device("cuda") if accel in ("gpu", "cuda", "auto") and torch.cuda.is_available() else torch.device("cpu")


def trained_module(trainer: L.Trainer, module: FineTuneModule, last: Path) -> tuple[FineTuneModule, int]:
    """(the trained module to evaluate in this process, optimizer steps taken).

    One process: the module itself. Several (ddp, ddp_spawn, fsdp): a plain module with the weights
    of `last.ckpt`, which Lightning writes, in full, at the end of every epoch (also the last, cut
    short by max_steps). That is the same code for every strategy: ddp_spawn trained copies in its
    workers (Lightning 2.6 loads their weights back non-strictly), fsdp leaves sharded parameters
    whose forward pass would wait for the other ranks.
    """
    if trainer.world_size == 1:
        return module, trainer.global_step
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    fresh = FineTuneModule(**ckpt["hyper_parameters"])
    fresh.load_state_dict(ckpt["state_dict"])
    return fresh, int(ckpt["global_step"])


def _store_cfg(cfg: DictConfig) -> DictConfig:
    """The config the encoder's pretraining (through the store) runs under.

    A script-launched strategy re-runs this job in every rank; a rank would then wait for the
    store's lock that rank 0 holds while it waits for that rank to join the fit. The pretraining
    part therefore spawns its workers inside this process (ddp_spawn); fine-tuning keeps the strategy.
    """
    if str(cfg.objective.name) == "none" or not relaunches_script(cfg.trainer.get("strategy")):
        return cfg
    log.info("pretraining through the store with strategy=ddp_spawn (trainer.strategy=%s re-runs the job per rank)",
             cfg.trainer.strategy)
    out = copy.deepcopy(cfg)
    with open_dict(out):
        out.trainer.strategy = "ddp_spawn"
    return out


def fit(trainer: L.Trainer, module: FineTuneModule, loader, ckpt_path: str | None) -> None:
    """trainer.fit, with a divergence inside a spawned worker reported as a divergence."""
    try:
        trainer.fit(module, loader, ckpt_path=ckpt_path)
    except torch.multiprocessing.ProcessRaisedException as e:
        if "FloatingPointError" in str(e):
            lines = [x for x in str(e).strip().splitlines() if "FloatingPointError" in x]
            raise FloatingPointError(lines[-1].split("FloatingPointError:", 1)[-1].strip()) from e
        raise


def finetune(cfg: DictConfig, run) -> dict:
    task = cfg.task
    # First: it refuses a bad task or hyperparameter before the world, the tokenizer or a pretraining is made.
    hp = finetune_hparams(cfg)
    dataset = load_task(task, cfg.data)
    tokenizer = get_tokenizer(cfg.data, task.language)
    ids = special_ids(tokenizer)
    vocab = tokenizer.get_vocab_size()
    arch = effective_encoder_config(cfg, vocab_size=vocab)
    encoder_state, arch, extra = resolve_encoder(_store_cfg(cfg), arch)
    if arch.vocab_size < vocab:
        raise ValueError(f"{extra.get('init')}: the checkpoint's vocabulary has {arch.vocab_size} tokens but the "
                         f"tokenizer in use has {vocab}; use the checkpoint's own tokenizer "
                         f"(data.tokenizer.{task.language}: {{kind: file, path: <its tokenizer.json>}})")
    plan = early_stopping_plan(cfg, task)
    train = build_features(task, cfg.data, tokenizer, task.splits.train, hp["max_length"], hp.get("doc_stride"))
    steps_per_epoch = math.ceil(len(train) / hp["batch_size"])
    max_steps = int(hp.get("max_steps") or steps_per_epoch * hp["epochs"])
    # Seeded here, after the encoder is resolved: a store miss pretrains it in this process, which
    # draws from the global RNG, and the head's init must not depend on whether the store had it.
    L.seed_everything(cfg.seed, workers=True)
    module = FineTuneModule(
        finetune_arch(arch, hp), task.type, num_labels=len(task.label_names) if task.get("label_names") else None,
        lr=hp["lr"], weight_decay=hp["weight_decay"], warmup_ratio=hp["warmup_ratio"], total_steps=max_steps,
        seed=cfg.seed, use_pooler=extra["head_input"] == "pooler", **head_dropout(hp),
    )
    if encoder_state is not None:
        load_encoder_state(module, encoder_state, lambda: encoder_source(cfg, arch, str(extra.get("init"))))
    job_dir = Path(cfg.job_dir)
    last = job_dir / LAST_CKPT
    resume = check_resume_checkpoint(last, module) if last.exists() else None
    logger, callbacks = False, [JobCheckpoint(last), EpochOrder()]
    if run is not None:
        logger = ResumableWandbLogger(run, job_dir / HISTORY_FILE)
        if resume is not None:
            logger.replay(before_step=resume["global_step"])
    stopper = None
    if plan is not None:
        stopper = DevEarlyStopping(plan, lambda m: evaluate(m, task, cfg.data, tokenizer, dataset, hp, ids.pad,
                                                            splits=[plan.split]))
        callbacks.append(stopper)
    if os.environ.get(KILL_AT_STEP_ENV):
        callbacks.append(KillAtStep(int(os.environ[KILL_AT_STEP_ENV])))
    trainer: L.Trainer = instantiate(
        cfg.trainer, max_steps=max_steps, callbacks=callbacks, default_root_dir=str(job_dir), logger=logger,
        gradient_clip_val=hp.get("gradient_clip_val"),
        enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False,
    )
    world = trainer.world_size
    if stopper is not None and world > 1:
        raise ValueError(f"early_stopping.patience is set, but the trainer runs {world} processes: early stopping "
                         f"evaluates inside the one training process; unset it or use one device")
    if hp["batch_size"] % world:
        raise ValueError(f"batch_size={hp['batch_size']} (the global batch) is not divisible by the {world} "
                         f"processes of trainer.devices x trainer.num_nodes")
    loader = make_dataloader(train, hp["batch_size"] // world, shuffle=True, seed=cfg.seed, pad_id=ids.pad)
    if resume is not None:  # the checkpoint ended epoch e: training goes on with epoch e + 1's order
        set_loader_epoch(loader, resume["epoch"] + 1)
    fit(trainer, module, loader, str(last) if resume is not None else None)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # evaluation below must not shard its batches
    if not is_rank_zero():
        return {}
    module, steps = trained_module(trainer, module, last)
    if stopper is not None:
        stopper.restore_best(module)
    module.to(_eval_device(cfg))
    # the encoder as pretrained, pooler included (the fine-tuned head may skip it)
    summary = {f"params/{k}": v for k, v in count_config_parameters(arch).items() if k != "pooler"}
    summary.update(extra)
    summary["finetune/steps"] = steps
    summary["finetune/world_size"] = world
    if stopper is not None:
        summary.update(stopper.summary())
    out_dir = predictions_dir(cfg, run)
    summary.update(evaluate(module, task, cfg.data, tokenizer, dataset, hp, ids.pad, out_dir))
    if cfg.get("predict_test"):
        if not task.get("submission"):
            log.warning("predict_test: task %s has no GLUE submission format (conf/task/%s.yaml: submission); "
                        "no test predictions written", task.name, task.name)
        for path in write_test_predictions(module, task, cfg.data, tokenizer, dataset, hp, ids.pad, out_dir):
            log.info("test predictions: %s", path)
    if any(out_dir.iterdir()):
        summary["predictions_dir"] = str(out_dir)
    return summary
