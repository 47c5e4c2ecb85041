"""A fine-tuning job's hyperparameters and the encoder config it builds its module with."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from lightning_modules.finetune import TASK_TYPES


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
