"""Every setting a job reads, checked before its W&B run is opened or anything is written.

One style for every group: a dataclass whose `__post_init__` holds the group's value rules (types and
unknown keys are refused earlier, when Hydra composes the structured schemas of bench/config/schema.py).
This builds each dataclass the job will build later, so a bad value stops the job at once with an
error naming its key, instead of after a W&B run, a synthetic world or a pretraining.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from bench.config.architecture import effective_encoder_config, student_mismatch, teacher_config
from bench.config.schema import SettingError
from bench.data.config import as_dict
from bench.data.specs import load_task_spec
from bench.data.tokenizer import checkpoint_tokenizer_of, get_tokenizer, imported_checkpoint, tokenizer_sha256
from bench.io import CONF_DIR
from bench.jobs.early_stopping import early_stopping_plan
from bench.jobs.finetune.hparams import command_line, finetune_hparams
from bench.jobs.finetune.restart import checkpoint_cadence
from bench.jobs.pretrain import objective_config, pretrain_checkpoint_cadence
from lightning_modules.hf import HFCheckpointError

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
    if job_type in NEEDS_TASK:
        check_checkpoint_tokenizer(cfg)
    if job_type == "speed":
        from bench.jobs.speed.settings import SpeedSettings

        SpeedSettings.from_cfg(cfg.speed)


def check_sweep(jobs: Sequence[Sequence[str]]) -> int:
    """Every job of a sweep (its override lists, as the sweeper launches them) passes `check_job_config` before
    the first one starts: a cell that cannot run stops the sweep at once, naming it, instead of after the cells
    before it have trained (a distilled student's teacher, say). Jobs that differ only in `seed` share one
    composition, and in `task` too (the task node swapped in, as composing it would). Returns the compositions."""
    from omegaconf import OmegaConf

    from bench.config.compose import compose_config

    groups: dict[tuple[str, ...], list[str | None]] = {}
    for overrides in jobs:
        swap = not any(o.lstrip("+~").startswith("task.") for o in overrides)  # task.* overrides: compose each
        rest = tuple(o for o in overrides if not o.startswith("seed=") and not (swap and o.startswith("task=")))
        task = next((o.split("=", 1)[1] for o in overrides if o.startswith("task=")), None) if swap else None
        if task not in groups.setdefault(rest, []):
            groups[rest].append(task)
    for rest, tasks in groups.items():
        cfg = compose_config(list(rest), return_hydra_config=True)
        for task in tasks:
            if task is not None:
                cfg.task = OmegaConf.load(CONF_DIR / "task" / f"{task}.yaml")
                cfg.hydra.overrides.task = [*rest, f"task={task}"]
            try:
                check_job_config(cfg)
            except (ValueError, KeyError, TypeError) as e:
                cell = " ".join([*rest, *([f"task={task}"] if task else [])])
                raise SettingError(f"sweep cell `{cell}`", f"{_text(e)}; no job of the sweep was started") from None
    return len(groups)


def check_checkpoint_tokenizer(cfg: DictConfig, overrides: Sequence[str] | None = None) -> None:
    """An imported checkpoint brings its tokenizer: a local checkpoint must have one, and a `data.tokenizer`
    given on the command line (`overrides`, by default the job's) next to `model.init=hf:<...>` is refused
    unless it is that same tokenizer."""
    d = as_dict(cfg.data)
    checkpoint = imported_checkpoint(d)
    if checkpoint is None:
        return
    if Path(checkpoint).expanduser().is_dir():  # a local checkpoint without a tokenizer stops here, before any run
        try:  # (a hub name is resolved by the job: the download is the job's)
            checkpoint_tokenizer_of(checkpoint)
        except HFCheckpointError as e:
            raise SettingError(f"model.init=hf:{checkpoint}", str(e)) from None
    keys = sorted({o.key_or_group.lstrip("+") for o in OverridesParser.create().parse_overrides(
        list(command_line(cfg) if overrides is None else overrides))
        if not o.is_delete() and o.key_or_group.lstrip("+").startswith("data.tokenizer")})
    if not keys:
        return
    ours = checkpoint_tokenizer_of(checkpoint)
    for key in keys:
        parts = key.split(".")
        language = parts[2] if len(parts) > 2 else str(cfg.task.get("language", "en"))
        try:
            theirs = get_tokenizer({**d, "checkpoint": None}, language)
            theirs.no_padding()
            theirs.no_truncation()
            same = tokenizer_sha256(theirs) == tokenizer_sha256(ours.tokenizer)
        except Exception:  # an override that cannot be loaded cannot be the checkpoint's own either
            same = False
        if not same:
            raise SettingError(key, f"conflicts with model.init=hf:{checkpoint}, which brings its own tokenizer "
                               f"({ours.source}); drop the {key} override")


def _text(e: BaseException) -> str:
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
