"""The architecture a job actually trains: the model config at the job's profile.

The composed `model` node holds the paper's architecture (with the sweep's overrides). The profile
replaces every architecture key by its own size (tiny: H=64, L=2, ...) except the table's axis
keys (`axis: [embedding_size, sharing]`), which keep the swept value, mapped by `profile.axis_map` or
scaled by `profile.axis_scale` where one is given (at tiny a depth axis 1..48 -> 1..8, a width axis
1024..6144 -> 32..192: the rows stay distinct and ordered at a fraction of the cost). The vocabulary
always comes from the tokenizer in use. A distillation student (DistilBERT: the teacher at half depth)
gets half the profile's depth where the profile sets one, so that its teacher, at the profile's depth,
has every other layer to give it at every profile.
"""

from __future__ import annotations

from omegaconf import DictConfig

from bench.config.compose import plain
from bench.config.schema import ARCH_KEYS, encoder_config
from lightning_modules.encoder import EncoderConfig


def effective_encoder_config(cfg: DictConfig, vocab_size: int | None = None) -> EncoderConfig:
    arch = encoder_config(cfg.model).to_dict()
    axis = list(cfg.get("axis") or [])
    for key in axis:
        if key not in ARCH_KEYS:
            raise KeyError(f"axis key {key!r} is not a model key (one of {', '.join(ARCH_KEYS)})")
    profile_model = plain(cfg.profile.get("model"))
    for key, value in profile_model.items():
        if key not in ARCH_KEYS:
            raise KeyError(f"profile.model.{key} is not a model key (one of {', '.join(ARCH_KEYS)})")
        if key not in axis:
            arch[key] = value
    if cfg.get("objective") is not None and cfg.objective.get("distillation") and "num_layers" in profile_model \
            and "num_layers" not in axis:
        arch["num_layers"] = max(1, int(profile_model["num_layers"]) // 2)
    maps = plain(cfg.profile.get("axis_map"))
    scale = cfg.profile.get("axis_scale") or {}
    for key in axis:
        if key in maps:  # a monotone map of the axis values (tiny depth: 1..48 -> 1..8), checked: no silent paper size
            table = {int(k) if str(k).isdigit() else k: v for k, v in maps[key].items()}
            if arch[key] not in table:
                raise KeyError(f"profile.axis_map.{key} has no entry for {key}={arch[key]} "
                               f"(it maps {', '.join(map(str, table))})")
            arch[key] = table[arch[key]]
        elif key in scale:
            arch[key] = max(1, round(arch[key] * float(scale[key])))
    if vocab_size is not None:
        arch["vocab_size"] = int(vocab_size)
    return EncoderConfig(**arch)


def teacher_config(cfg: DictConfig) -> DictConfig:
    """The composed config of a distillation recipe's teacher: its model and recipe
    (`objective.distillation.teacher_model` / `teacher_objective`) at this job's profile (as the job has it,
    command-line `profile.*` overrides included: the student's depth follows them too), seed and data."""
    from omegaconf import open_dict

    from bench.config.compose import compose_config

    d = cfg.objective.distillation
    teacher = compose_config([f"model={d.teacher_model}", f"objective={d.teacher_objective}",
                              f"profile={cfg.profile.name}", f"seed={cfg.seed}"])
    with open_dict(teacher):
        teacher.data, teacher.paths, teacher.trainer, teacher.profile = cfg.data, cfg.paths, cfg.trainer, cfg.profile
    return teacher


def student_mismatch(student: EncoderConfig, teacher: EncoderConfig) -> str | None:
    """Why `student` is not `teacher` at half depth (DistilBERT's student), or None when it is."""
    from lightning_modules.distill import default_teacher_layers, student_config

    want = student_config(teacher, num_layers=student.num_layers).to_dict()
    diff = [f"{k}={v} (the teacher's gives {want[k]})" for k, v in student.to_dict().items() if want.get(k) != v]
    if diff:
        return "the student differs from its teacher in " + ", ".join(diff)
    try:
        default_teacher_layers(teacher.num_layers, student.num_layers)
    except ValueError as e:
        return str(e)
    return None
