"""Pretraining and distillation through the checkpoint store.

A fine-tuning cell whose objective is not `none` asks `pretrained_encoder(cfg, arch)` for its
encoder: the store key is the hash of (architecture, resolved recipe, data, seed), so a sweep
over tasks pretrains each variant once, under a file lock. The fit writes `work/<key>/last.ckpt`
every `profile.pretrain_checkpoint` steps or minutes, on SIGTERM and at the end; an interrupted
pretraining (exception, signal, kill) resumes from it exactly: the same encoder, bit for bit on
CPU, as an uninterrupted run (the checkpoint holds the loader's position, the masking and global
RNGs, optimizer and scheduler). `pretrain/val_*` come from documents held out before any static
copy is made. `job_type=pretrain` / `distill` run the same thing as a job of its own.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from bench.config.architecture import effective_encoder_config, student_mismatch, teacher_config
from bench.config.compose import plain
from bench.config.schema import SettingError
from bench.data import get_tokenizer, load_corpus
from bench.data.identity import data_fingerprint, tokenizer_info, tokenizer_source
from bench.data.pretraining import SpecialIds, build_for_objective, pretraining_dataloader, tokenize_documents
from bench.io import slow_step
from bench.jobs.finetune.restart import HISTORY_FILE, ResumableWandbLogger
from bench.jobs.lineage import log_encoder, use_encoder
from bench.jobs.progress import fit_progress
from bench.jobs.strategy import STORE_JOBS
from bench.store.checkpoints import CheckpointStore, load_state_dict, read_resume_checkpoint
from lightning_modules.distill import DistillModule
from lightning_modules.encoder import EncoderConfig, count_config_parameters
from lightning_modules.pretrain import ObjectiveConfig, PretrainModule, fit_pretraining, pretraining_trainer

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
# Row modifiers of the RoBERTa data/steps table: not part of a recipe, part of its store key.
ROW_KEYS = ("corpus_scale", "steps_multiplier")


def objective_config(cfg: DictConfig) -> tuple[ObjectiveConfig, dict]:
    raw = OmegaConf.to_container(cfg.objective, resolve=True)
    row = {k: raw.pop(k) for k in ROW_KEYS if k in raw}
    section = cfg.profile.get("objective_section") or cfg.profile.name
    if isinstance(raw.get(section), dict):  # the profile may force scale keys (the smoke profile)
        raw[section].update(plain(cfg.profile.get("objective_overrides")))
    obj = ObjectiveConfig.from_cfg(raw, section)
    if row.get("steps_multiplier") and obj.max_steps:
        obj = replace(obj, max_steps=int(obj.max_steps * row["steps_multiplier"]))
    return obj, row


def _data_key(cfg: DictConfig, language: str, corpus_scale: int) -> dict:
    """Content, not settings: the tokenizer.json's sha256 and the corpus files' (a scaled corpus: the
    base corpus and the scale, so that a lookup need not write the larger world)."""
    return {"data": data_fingerprint(cfg.data, language), "language": language, "corpus_scale": corpus_scale}


def _documents(cfg: DictConfig, language: str, corpus_scale: int) -> list[list[str]]:
    data = cfg.data
    if corpus_scale and corpus_scale != 1:  # the synthetic world writes a corpus N times larger
        data = OmegaConf.merge(data, {"sizes": {"corpus": {language: int(data.sizes.corpus[language]) * corpus_scale}}})
    return load_corpus(data, language)


def _trainer_kwargs(cfg: DictConfig) -> dict:
    t = OmegaConf.to_container(cfg.trainer, resolve=True)
    t.pop("_target_", None)
    return {**t, "logger": False}


CADENCE_DEFAULTS = {"every_n_steps": 100, "every_minutes": 30}  # a profile without profile.pretrain_checkpoint


def pretrain_checkpoint_cadence(cfg: DictConfig) -> dict:
    """`profile.pretrain_checkpoint`: how often the store pretraining writes its resume checkpoint
    (every_n_steps, every_minutes: positive numbers, or null for no such rule); not in the store key."""
    node = plain(cfg.profile.get("pretrain_checkpoint"))
    out = {}
    for key, kind in (("every_n_steps", int), ("every_minutes", (int, float))):
        value = node.get(key, CADENCE_DEFAULTS[key])
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind) or value <= 0):
            raise SettingError(f"profile.pretrain_checkpoint.{key}", f"must be a positive number or null, got {value!r}")
        out[f"checkpoint_{key}"] = value
    return out


def _fit(cfg: DictConfig, obj: ObjectiveConfig, arch: EncoderConfig, module_fn, work_dir: Path,
         resume: Path | None, corpus_scale: int, run=None) -> L.LightningModule:
    """Pretraining data for the recipe, then a resumable Lightning fit; metrics land in work_dir.

    Resumed from `resume`, the fit continues exactly where it stopped: the checkpoint holds the
    train loader's position and masking RNG and the global RNGs (ResumeCheckpoint). With `run` (the
    W&B run of a pretrain/distill job) the curves go to it against the trainer's step, every row also
    to `work_dir/history.jsonl` (kept in the store entry); a resumed fit replays the rows before its
    checkpoint into the run's new offline directory, as a resumed fine-tuning does."""
    L.seed_everything(cfg.seed, workers=True)
    tokenizer = get_tokenizer(cfg.data, obj.language)
    special = SpecialIds.from_tokenizer(tokenizer)
    with slow_step(f"pretraining data ({obj.name}): tokenizing the corpus, building the examples"):
        docs = tokenize_documents(_documents(cfg, obj.language, corpus_scale), tokenizer, obj.language)
        data = build_for_objective(obj, docs, special, arch.vocab_size, seed=int(cfg.seed))  # held-out documents
    module = module_fn()
    kwargs = _trainer_kwargs(cfg)
    if run is not None:
        kwargs["logger"] = ResumableWandbLogger(run, work_dir / HISTORY_FILE)
        if resume is not None:
            step = read_resume_checkpoint(resume, f"delete {work_dir} to start this pretraining over")["global_step"]
            kwargs["logger"].replay(before_step=int(step))
    what = "distillation" if obj.distillation is not None else "pretraining"
    kwargs["enable_progress_bar"], bar = fit_progress(what)
    trainer = pretraining_trainer(work_dir, obj, **pretrain_checkpoint_cadence(cfg), **kwargs, progress=bar,
                                  num_sanity_val_steps=0)
    fit_pretraining(module, trainer, pretraining_dataloader(data.train, data.collator, obj.micro_batch_size,
                                                            seed=int(cfg.seed)), resume_from=resume)
    metrics = _logged(trainer)  # the last training step's values
    val_loader = pretraining_dataloader(data.val, data.val_collator, obj.micro_batch_size, shuffle=False)
    trainer.validate(module, val_loader, verbose=False)  # held-out MLM perplexity of the final weights
    metrics.update(_logged(trainer))
    (work_dir / METRICS_FILE).write_text(json.dumps(metrics, sort_keys=True))
    return module


def _logged(trainer: L.Trainer) -> dict[str, float]:
    """The fit's results (not its rates: a clock's numbers, in the history only)."""
    return {k: float(v) for k, v in trainer.callback_metrics.items()
            if k.startswith(("pretrain/", "distill/")) and not k.endswith(("/lr", "/tokens_per_s"))}


def _store(cfg: DictConfig) -> CheckpointStore:
    return CheckpointStore(Path(cfg.paths.cache) / "store")


def pretrained_encoder(cfg: DictConfig, arch: EncoderConfig) -> tuple[dict[str, torch.Tensor], dict]:
    """The pretrained encoder state of this cell and its pretraining metrics (trained first if the
    store lacks it). A distillation recipe distills from its teacher's stored entry.

    The job's W&B run (rank 0) logs the entry as a model artifact if this job trained it, and names it
    as its encoder (bench/jobs/lineage.py); a pretrain/distill job's run also gets the curves."""
    run = _current_run()
    trained: list[Path] = []
    path = store_entry(cfg, arch, run=run if cfg.job_type in STORE_JOBS else None, trained=trained)
    if run is not None:
        try:
            if trained:
                log_encoder(run, path)
            use_encoder(run, path, logged_here=bool(trained))
        except Exception as e:  # noqa: BLE001 - lineage is a record of the job, never a reason to fail it
            log.warning("W&B lineage of %s not recorded: %s: %s", path.name, type(e).__name__, e)
    metrics_file = path / METRICS_FILE
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    return load_state_dict(path, prefix="encoder."), metrics


def _current_run():
    """The job's W&B run (bench.jobs.tracking opened it in this process), or None (another rank, no run)."""
    import sys

    wandb = sys.modules.get("wandb")
    return getattr(wandb, "run", None) if wandb is not None else None


def store_entry(cfg: DictConfig, arch: EncoderConfig, run=None, trained: list | None = None) -> Path:
    """The store entry of this cell (trained first if missing: its curves to `run` if given; its work
    dir appended to `trained` when this call trained it)."""
    obj, row = objective_config(cfg)
    scale = int(row.get("corpus_scale", 1))
    key = {"model": arch.to_dict(), "objective": obj.to_dict(), **_data_key(cfg, obj.language, scale),
           "seed": int(cfg.seed)}
    if obj.distillation is not None:
        teacher_arch, teacher_state = _teacher(cfg, obj, arch)
        key["teacher"] = teacher_arch.to_dict()
        why = student_mismatch(arch, teacher_arch)
        if why:
            raise ValueError(f"objective {obj.name}: {why} ({obj.distillation['teacher_model']} at half depth)")

        def train(work_dir: Path, resume: Path | None):
            if trained is not None:
                trained.append(work_dir)
            module = _fit(cfg, obj, teacher_arch, lambda: DistillModule.from_teacher(teacher_state, teacher_arch, obj),
                          work_dir, resume, scale, run)
            return module.student_state_dict()
    else:
        def train(work_dir: Path, resume: Path | None):
            if trained is not None:
                trained.append(work_dir)
            return _fit(cfg, obj, arch, lambda: PretrainModule(arch, obj), work_dir, resume, scale, run).state_dict()

    return _store(cfg).get_or_train(key, train)


def _teacher(cfg: DictConfig, obj: ObjectiveConfig, student_arch: EncoderConfig):
    """The teacher's architecture (its model config at this profile) and its pretrained state."""
    teacher_cfg = teacher_config(cfg)
    arch = effective_encoder_config(teacher_cfg, vocab_size=student_arch.vocab_size)
    return arch, load_state_dict(store_entry(teacher_cfg, arch))  # encoder.* and mlm_head.*


def pretrain(cfg: DictConfig, run) -> dict:
    """job_type=pretrain (or distill): make sure this cell's encoder is in the store."""
    obj, _ = objective_config(cfg)
    tokenizer = get_tokenizer(cfg.data, obj.language)
    arch = effective_encoder_config(cfg, vocab_size=tokenizer.get_vocab_size())
    state, metrics = pretrained_encoder(cfg, arch)
    info = tokenizer_info(tokenizer, tokenizer_source(cfg.data, obj.language))
    return {**metrics, **{f"params/{k}": v for k, v in _counts(arch).items()}, **info}


distill = pretrain


def _counts(arch: EncoderConfig) -> dict[str, int]:
    c = count_config_parameters(arch)
    return {k: c[k] for k in ("total", "embedding", "non_embedding")}
