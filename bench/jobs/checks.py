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
    the first one starts: cells that cannot run stop the sweep at once, all of them named, instead of after the
    cells before them have trained (a distilled student's teacher, say). Jobs that differ only in `seed` share
    one composition, and in `task` too where nothing but the task file writes `task.*` (its node swapped in, as
    composing it would). Returns the compositions."""
    from omegaconf import OmegaConf

    from bench.config.compose import compose_config
    from bench.jobs.console import job_label

    def task_file(name) -> Path | None:
        path = CONF_DIR / "task" / f"{name}.yaml"
        return path if isinstance(name, str) and path.exists() else None

    parser = OverridesParser.create()
    groups: dict[tuple[str, ...], dict[str | None, int]] = {}  # the other overrides -> task -> its first job
    for n, overrides in enumerate(jobs):
        parsed = parser.parse_overrides(list(overrides))
        tasks = [o.value() for o in parsed if o.key_or_group == "task"]
        swap = len(tasks) == 1 and task_file(tasks[0]) is not None and \
            not any(o.key_or_group.startswith("task.") for o in parsed)
        rest = tuple(text for text, o in zip(overrides, parsed)
                     if o.key_or_group != "seed" and not (swap and o.key_or_group == "task"))
        groups.setdefault(rest, {}).setdefault(tasks[0] if swap else None, n)
    failures: dict[str, list[str]] = {}
    for rest, tasks in groups.items():
        base = compose_config(list(rest), return_hydra_config=True)
        default = task_file(OmegaConf.select(base, "hydra.runtime.choices.task"))
        swappable = default is not None and \
            OmegaConf.to_container(base.task) == OmegaConf.to_container(OmegaConf.load(default))
        for task, n in tasks.items():
            if task is None:
                cfg = base
            elif swappable:
                cfg = base
                cfg.task = OmegaConf.load(task_file(task))
                cfg.hydra.overrides.task = [*rest, f"task={task}"]
            else:  # something else writes task.* (an experiment, a cell, conf/local): compose the cell whole
                cfg = compose_config([*rest, f"task={task}"], return_hydra_config=True)
            try:
                check_job_config(cfg)
            except (ValueError, KeyError, TypeError) as e:
                failures.setdefault(_text(e), []).append(job_label([o for o in jobs[n] if not o.startswith("seed=")]))
    if failures:
        cells = sum(len(v) for v in failures.values())
        why = "; ".join(f"`{'`, `'.join(c[:3])}`{f' and {len(c) - 3} more' if len(c) > 3 else ''}: {e}"
                        for e, c in failures.items())
        raise SettingError("sweep", f"{cells} cell(s) cannot run, so no job was started: {why}")
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
