"""Every setting a job reads, checked before its W&B run is opened or anything is written.

One style for every group: a dataclass whose `__post_init__` holds the group's value rules (types and
unknown keys are refused earlier, when Hydra composes the structured schemas of bench/config/schema.py).
This builds each dataclass the job will build later, so a bad value stops the job at once with an
error naming its key, instead of after a W&B run, a synthetic world or a pretraining.
"""

from __future__ import annotations

from omegaconf import DictConfig

from bench.config.architecture import effective_encoder_config, student_mismatch, teacher_config
from bench.config.schema import SettingError
from bench.data.specs import load_task_spec
from bench.jobs.early_stopping import early_stopping_plan
from bench.jobs.finetune.hparams import finetune_hparams
from bench.jobs.finetune.restart import checkpoint_cadence
from bench.jobs.pretrain import objective_config, pretrain_checkpoint_cadence

NEEDS_TASK = ("finetune", "speed")


def check_job_config(cfg: DictConfig) -> None:
    job_type = str(cfg.job_type)
    try:
        effective_encoder_config(cfg)
    except (ValueError, KeyError) as e:
        raise SettingError("model", f"{_text(e)} (the architecture at profile {cfg.profile.name}: model.* with "
                           "profile.model.* replacing every key but the experiment's axis)") from None
    if str(cfg.objective.name) != "none" or job_type in ("pretrain", "distill"):
        objective_config(cfg)
        pretrain_checkpoint_cadence(cfg)
    if cfg.objective.get("distillation"):
        student = effective_encoder_config(cfg)
        teacher = effective_encoder_config(teacher_config(cfg), vocab_size=student.vocab_size)
        why = student_mismatch(student, teacher)
        if why:
            raise SettingError(f"objective.distillation.teacher_model={cfg.objective.distillation.teacher_model}",
                               f"{why} (model={cfg.model.name} at profile {cfg.profile.name})")
    if job_type in NEEDS_TASK:
        load_task_spec(cfg.task)
    if job_type == "finetune":
        finetune_hparams(cfg)
        early_stopping_plan(cfg, cfg.task)
        checkpoint_cadence(cfg)
    if job_type == "speed":
        from bench.jobs.speed.settings import SpeedSettings

        SpeedSettings.from_cfg(cfg.speed)


def _text(e: BaseException) -> str:
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
