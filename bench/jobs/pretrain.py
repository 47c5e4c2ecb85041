"""Pretraining and distillation through the checkpoint store.

A fine-tuning cell whose objective is not `none` asks `pretrained_encoder(cfg, arch)` for its
encoder: the store key is the hash of (architecture, resolved recipe, data, seed), so a sweep
over tasks pretrains each variant once, under a file lock, and an interrupted pretraining resumes
from its `last.ckpt`. `job_type=pretrain` / `distill` run the same thing as a job of its own.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from bench.config.architecture import effective_encoder_config
from bench.config.compose import compose_config, plain
from bench.data import get_tokenizer, load_corpus
from bench.data.pretraining import SpecialIds, build_for_objective, pretraining_dataloader, tokenize_documents
from bench.store.checkpoints import CheckpointStore, load_state_dict
from lightning_modules.distill import DistillModule, student_config
from lightning_modules.encoder import EncoderConfig, count_config_parameters
from lightning_modules.pretrain import ObjectiveConfig, PretrainModule, pretraining_trainer

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
    d = OmegaConf.to_container(cfg.data, resolve=True)
    d.pop("cache_dir", None)
    return {"data": d, "language": language, "corpus_scale": corpus_scale}


def _documents(cfg: DictConfig, language: str, corpus_scale: int) -> list[list[str]]:
    data = cfg.data
    if corpus_scale and corpus_scale != 1:  # the synthetic world writes a corpus N times larger
        data = OmegaConf.merge(data, {"sizes": {"corpus": {language: int(data.sizes.corpus[language]) * corpus_scale}}})
    return load_corpus(data, language)


def _trainer_kwargs(cfg: DictConfig) -> dict:
    t = OmegaConf.to_container(cfg.trainer, resolve=True)
    t.pop("_target_", None)
    return {**t, "logger": False}


def _fit(cfg: DictConfig, obj: ObjectiveConfig, arch: EncoderConfig, module_fn, work_dir: Path,
         resume: Path | None, corpus_scale: int) -> L.LightningModule:
    """Pretraining data for the recipe, then a resumable Lightning fit; metrics land in work_dir."""
    L.seed_everything(cfg.seed, workers=True)
    tokenizer = get_tokenizer(cfg.data, obj.language)
    special = SpecialIds.from_tokenizer(tokenizer)
    docs = tokenize_documents(_documents(cfg, obj.language, corpus_scale), tokenizer, obj.language)
    dataset, collator = build_for_objective(obj, docs, special, arch.vocab_size, seed=int(cfg.seed))
    n_val = max(1, len(dataset) // 20)  # held-out sequences: the perplexity column
    train_set, val_set = torch.utils.data.random_split(
        dataset, [len(dataset) - n_val, n_val], generator=torch.Generator().manual_seed(int(cfg.seed)))
    module = module_fn()
    trainer = pretraining_trainer(work_dir, obj, **_trainer_kwargs(cfg), num_sanity_val_steps=0)
    trainer.fit(module,
                pretraining_dataloader(train_set, collator, obj.micro_batch_size, seed=int(cfg.seed)),
                ckpt_path=str(resume) if resume else None)
    metrics = _logged(trainer)  # the last training step's values
    val_loader = pretraining_dataloader(val_set, collator, obj.micro_batch_size, shuffle=False)
    trainer.validate(module, val_loader, verbose=False)  # held-out MLM perplexity of the final weights
    metrics.update(_logged(trainer))
    (work_dir / METRICS_FILE).write_text(json.dumps(metrics, sort_keys=True))
    return module


def _logged(trainer: L.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("pretrain/", "distill/"))}


def _store(cfg: DictConfig) -> CheckpointStore:
    return CheckpointStore(Path(cfg.paths.cache) / "store")


def pretrained_encoder(cfg: DictConfig, arch: EncoderConfig) -> tuple[dict[str, torch.Tensor], dict]:
    """The pretrained encoder state of this cell and its pretraining metrics (trained first if the
    store lacks it). A distillation recipe distills from its teacher's stored entry."""
    path = store_entry(cfg, arch)
    metrics_file = path / METRICS_FILE
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    return load_state_dict(path, prefix="encoder."), metrics


def store_entry(cfg: DictConfig, arch: EncoderConfig) -> Path:
    obj, row = objective_config(cfg)
    scale = int(row.get("corpus_scale", 1))
    key = {"model": arch.to_dict(), "objective": obj.to_dict(), **_data_key(cfg, obj.language, scale),
           "seed": int(cfg.seed)}
    if obj.distillation is not None:
        teacher_arch, teacher_state = _teacher(cfg, obj, arch)
        key["teacher"] = teacher_arch.to_dict()
        if student_config(teacher_arch).to_dict() != arch.to_dict():
            raise ValueError(f"objective {obj.name}: the student {arch} is not the teacher "
                             f"{obj.distillation['teacher_model']} with every other layer")

        def train(work_dir: Path, resume: Path | None):
            module = _fit(cfg, obj, teacher_arch,
                          lambda: DistillModule.from_teacher(teacher_state, teacher_arch, obj), work_dir, resume, scale)
            return module.student_state_dict()
    else:
        def train(work_dir: Path, resume: Path | None):
            return _fit(cfg, obj, arch, lambda: PretrainModule(arch, obj), work_dir, resume, scale).state_dict()

    return _store(cfg).get_or_train(key, train)


def _teacher(cfg: DictConfig, obj: ObjectiveConfig, student_arch: EncoderConfig):
    """The teacher's architecture (its model config at this profile) and its pretrained state."""
    d = obj.distillation
    teacher_cfg = compose_config([f"model={d['teacher_model']}", f"objective={d['teacher_objective']}",
                                  f"profile={cfg.profile.name}", f"seed={cfg.seed}"])
    with open_dict(teacher_cfg):
        teacher_cfg.data, teacher_cfg.paths, teacher_cfg.trainer = cfg.data, cfg.paths, cfg.trainer
    arch = effective_encoder_config(teacher_cfg, vocab_size=student_arch.vocab_size)
    return arch, load_state_dict(store_entry(teacher_cfg, arch))  # encoder.* and mlm_head.*


def pretrain(cfg: DictConfig, run) -> dict:
    """job_type=pretrain (or distill): make sure this cell's encoder is in the store."""
    obj, _ = objective_config(cfg)
    tokenizer = get_tokenizer(cfg.data, obj.language)
    arch = effective_encoder_config(cfg, vocab_size=tokenizer.get_vocab_size())
    state, metrics = pretrained_encoder(cfg, arch)
    return {**metrics, **{f"params/{k}": v for k, v in _counts(arch).items()}}


distill = pretrain


def _counts(arch: EncoderConfig) -> dict[str, int]:
    c = count_config_parameters(arch)
    return {k: c[k] for k in ("total", "embedding", "non_embedding")}
