"""A fine-tuning job's hyperparameters and the encoder config it builds its module with.

The values come from three places, each replacing the one before: the task spec (`task.hparams`,
the papers' settings), the profile (`profile.finetune`), the profile's entry for the task's type
(`profile.finetune_by_type.<type>`). An imported encoder (`model.init=hf:<name or dir>`, a released
model) takes `profile.finetune_imported` instead of those two where the profile has it: a profile sized
for tiny encoders (lr 1e-3, 1,200 steps) must not fine-tune a 110M checkpoint, which gets the task's
published lr, epochs, batch and length with only the profile's warmup, decay and clipping
(profile=released, docs/notes/released-checkpoints.md). A `task.hparams.<key>` given on the command
line (or by a sweep) replaces all of them for that key: command line > profile > task spec, so that
`task.hparams.lr=3e-5` takes effect at every profile, as the run's config records it; `null` there
unsets the key. `FinetuneHparams` checks the result; an error names the key that set the bad value.
The values used are recorded in the run's config under `finetune_hparams` (`hparams_config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from bench.config.compose import plain
from bench.config.schema import SettingError
from lightning_modules.finetune import TASK_TYPES
from lightning_modules.hf.config import parse_init


@dataclass(frozen=True)
class FinetuneHparams:
    lr: float
    batch_size: int
    max_length: int
    warmup_ratio: float
    weight_decay: float
    epochs: int | None = None
    max_steps: int | None = None  # replaces epochs where set
    doc_stride: int | None = None  # span QA: the overlap of a context's windows
    gradient_clip_val: float | None = None
    dropout: float | None = None  # the encoder's while fine-tuned (ALBERT's "ALBERT DR"); None: as pretrained
    classifier_dropout: float | None = None  # the head's ("Classifier DR"); None: the module's 0.1
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise SettingError("lr", f"must be > 0, got {self.lr!r}")
        for key in ("batch_size", "max_length", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise SettingError(key, f"must be >= 1, got {getattr(self, key)!r}")
        for key in ("epochs", "max_steps"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise SettingError(key, f"must be >= 1 or null, got {getattr(self, key)!r}")
        if self.epochs is None and self.max_steps is None:
            raise SettingError("epochs", "neither epochs nor max_steps is set: the job would not know when to stop")
        if self.doc_stride is not None and not 0 <= self.doc_stride < self.max_length:
            raise SettingError("doc_stride", f"must be in [0, max_length={self.max_length}), got {self.doc_stride!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise SettingError("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio!r}")
        if self.weight_decay < 0:
            raise SettingError("weight_decay", f"must be >= 0, got {self.weight_decay!r}")
        if self.gradient_clip_val is not None and not self.gradient_clip_val > 0:
            raise SettingError("gradient_clip_val", f"must be > 0 or null, got {self.gradient_clip_val!r}")
        for key in ("dropout", "classifier_dropout"):
            value = getattr(self, key)
            if value is not None and not 0.0 <= value < 1.0:
                raise SettingError(key, f"{value!r} is not a probability in [0, 1)")


HPARAM_KEYS = tuple(f.name for f in fields(FinetuneHparams))
CLI = "task.hparams (command line)"  # a source of values; errors name its keys `task.hparams.<key>`


def command_line(cfg: DictConfig) -> list[str]:
    """The job's command-line overrides (a sweep's included): `cfg.hydra`'s where the config carries
    them (`compose_config(..., return_hydra_config=True)`), else the running Hydra job's; none outside one."""
    node = OmegaConf.select(cfg, "hydra.overrides.task")
    if node is not None:
        return list(node)
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def command_line_keys(overrides: Sequence[str]) -> set[str]:
    """The `task.hparams` keys that `overrides` set: `task.hparams.lr=3e-5`, `+task.hparams.dropout=0.1`,
    `task.hparams={lr: 3e-5}` (deletions `~task.hparams.lr` set nothing)."""
    keys: set[str] = set()
    for o in OverridesParser.create().parse_overrides(list(overrides)):
        key = o.key_or_group
        if o.is_delete() or not (key == "task.hparams" or key.startswith("task.hparams.")):
            continue
        if key == "task.hparams":
            value = o.value()
            keys |= set(value) if isinstance(value, dict) else set()
        else:
            keys.add(key.split(".")[2])
    return keys


def finetune_hparams(cfg: DictConfig, overrides: Sequence[str] | None = None) -> dict:
    """The checked hyperparameters of `cfg`'s task at its profile, as a dict (keys: `HPARAM_KEYS`).

    `overrides`: the command line whose `task.hparams.<key>` win over the profile; by default
    `command_line(cfg)`.
    """
    by_type_cfg = cfg.profile.get("finetune_by_type")
    by_type = OmegaConf.to_container(by_type_cfg, resolve=True) if by_type_cfg is not None else {}
    for name in by_type:
        if name not in TASK_TYPES:
            raise SettingError(f"profile.finetune_by_type.{name}", f"not a task type (one of {', '.join(TASK_TYPES)})")
    task_hp = plain(cfg.task.get("hparams"))
    given = command_line_keys(command_line(cfg) if overrides is None else overrides)
    imported = cfg.profile.get("finetune_imported") if is_imported(cfg) else None
    profile_blocks = [("profile.finetune_imported", imported)] if imported is not None else [
        ("profile.finetune", cfg.profile.finetune),
        (f"profile.finetune_by_type.{cfg.task.type}", by_type.get(cfg.task.type) or {})]
    blocks = [("task.hparams", task_hp), *profile_blocks, (CLI, {k: task_hp.get(k) for k in sorted(given)})]
    hp, source = {}, {}
    for where, block in blocks:
        block = OmegaConf.to_container(block, resolve=True) if isinstance(block, DictConfig) else dict(block)
        for k, v in block.items():
            if k not in HPARAM_KEYS:
                raise SettingError(f"{where}.{k}", f"not a fine-tuning hyperparameter (one of {', '.join(HPARAM_KEYS)})")
            if v is not None or where == CLI:  # a null on the command line unsets the key
                hp[k], source[k] = v, where
    hp = {k: v for k, v in hp.items() if v is not None}
    missing = [f.name for f in fields(FinetuneHparams) if f.name not in hp and f.default is MISSING]
    if missing:
        how = ("null on the command line" if source.get(missing[0]) == CLI else
               f"set it in conf/task/{cfg.task.name}.yaml or profile.finetune")
        raise SettingError(f"task.hparams.{missing[0]}", f"missing (task {cfg.task.name}: {how})")
    try:
        checked = FinetuneHparams(**hp)
    except SettingError as e:
        where = source.get(e.key, "task.hparams")
        raise SettingError(f"{'task.hparams' if where == CLI else where}.{e.key}", f"{e.problem} (task {cfg.task.name}"
                           + (", set on the command line)" if where == CLI else ")")) from None
    except TypeError as e:  # a value of the wrong type, e.g. a string for a number
        raise SettingError("task.hparams", f"{e} (task {cfg.task.name})") from None
    return asdict(checked)


def is_imported(cfg: DictConfig) -> bool:
    """Whether the job's encoder is a Hugging Face checkpoint (`model.init=hf:<name or dir>`)."""
    return parse_init(str(cfg.model.get("init", "random")))[0] == "hf"


def hparams_config(hp: dict) -> dict:
    """The run-config entry that records the hyperparameters a job trained with (after the precedence
    above), e.g. `finetune_hparams.lr`; `task.hparams` alone shows the task file's value, not the profile's."""
    return {"finetune_hparams": dict(hp)}


def finetune_arch(arch, hp: dict) -> dict:
    """The encoder config the fine-tuning module is built with: the pretrained architecture, with the
    task's fine-tuning `dropout` (hidden and attention) where one is set; no weight depends on it."""
    d = arch.to_dict()
    if hp.get("dropout") is not None:
        d.update(dropout=float(hp["dropout"]), attention_dropout=float(hp["dropout"]))
    return d


def head_dropout(hp: dict) -> dict:
    """FineTuneModule's `classifier_dropout` keyword where the task sets one (else the module's default)."""
    return {"classifier_dropout": float(hp["classifier_dropout"])} if hp.get("classifier_dropout") is not None else {}
