"""Every cell of every experiment composes and passes the job's checks at every profile: what can be
known before training (student/teacher shapes, axis values, heads dividing widths, doc_stride below
max_length, hyperparameters, recipes) fails here, not hours into a sweep."""

from __future__ import annotations

import functools
import itertools

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from bench.config.architecture import effective_encoder_config, student_mismatch
from bench.config.compose import compose_config, sweep_params
from bench.io import CONF_DIR
from bench.jobs.checks import check_job_config
from bench.results.report.spec import at_profile, load_spec, table_names
from lightning_modules.encoder import EncoderConfig

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
PROFILES = sorted(p.stem for p in (CONF_DIR / "profile").glob("*.yaml"))


def cells(experiment: str, profile: str) -> list[list[str]]:
    """The sweep's cells at `profile` as override lists (the first seed only: a seed changes no setting)."""
    params = sweep_params(experiment, profile)
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    axes = [[f"{o.get_key_element()}={v}" for v in (o.sweep_string_iterator() if o.is_sweep_override()
                                                     else [o.get_value_element_as_str()])] for o in parsed]
    axes = [a[:1] if a[0].startswith("seed=") else a for a in axes]
    return [list(c) for c in itertools.product(*axes)]


@functools.cache
def task_node(task: str):
    return OmegaConf.load(CONF_DIR / "task" / f"{task}.yaml")


def with_task(cfg, task: str):
    """`cfg`, changed in place to `task=<task>`: the task group is one plain file, so swapping its node is
    what composing `task=<task>` does (checked below), at a fraction of a composition's cost."""
    cfg.task = task_node(task)
    return cfg


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_cell_passes_the_checks(experiment, profile):
    rows: dict[tuple, list[str]] = {}  # the cell's other overrides -> its tasks
    for cell in cells(experiment, profile):
        rows.setdefault(tuple(o for o in cell if not o.startswith("task=")), []).extend(
            o.split("=", 1)[1] for o in cell if o.startswith("task="))
    assert rows, f"{experiment}: no cells in hydra.sweeper.params"
    for row, tasks in rows.items():
        base = compose_config([f"experiment={experiment}", f"profile={profile}", *row])
        for task in tasks or [None]:
            cfg = base if task is None else with_task(base, task)
            try:
                check_job_config(cfg)
            except (ValueError, KeyError, TypeError) as e:
                pytest.fail(f"experiment={experiment} profile={profile} {' '.join(row)} task={task}: {e}")


def test_swapping_the_task_node_is_composing_the_task():
    base = compose_config(["experiment=albert_depth", "profile=tiny", "task=sst2"])
    composed = compose_config(["experiment=albert_depth", "profile=tiny", "task=squad_v2"])
    assert OmegaConf.to_container(with_task(base, "squad_v2")) == OmegaConf.to_container(composed)


@pytest.mark.parametrize("profile", PROFILES)
def test_distilbert_student_is_its_teacher_at_half_depth(profile):
    cfg = compose_config(["experiment=distilbert_glue", f"profile={profile}", "+cell=distilbert_student", "task=sst2"])
    teacher = compose_config(["experiment=distilbert_glue", f"profile={profile}", "+cell=distilbert_teacher",
                              "task=sst2"])
    student_layers = effective_encoder_config(cfg).num_layers
    teacher_layers = effective_encoder_config(teacher).num_layers
    assert student_layers == max(1, teacher_layers // 2)
    # every other teacher layer: an even teacher at every profile but smoke, whose one layer is copied whole
    assert teacher_layers % 2 == 0 if profile != "smoke" else teacher_layers == student_layers == 1


def test_a_student_that_is_not_its_teacher_at_half_depth_is_named():
    teacher = EncoderConfig(vocab_size=50, embedding_size=8, hidden_size=8, num_layers=2, num_heads=2,
                            intermediate_size=16)
    wide = EncoderConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_layers=1, num_heads=2,
                         intermediate_size=16, type_vocab_size=0, pooler=False)
    assert "hidden_size=16 (the teacher's gives 8)" in student_mismatch(wide, teacher)
    deep = EncoderConfig(vocab_size=50, embedding_size=8, hidden_size=8, num_layers=2, num_heads=2,
                         intermediate_size=16, type_vocab_size=0, pooler=False)
    assert "no every-other layer" in student_mismatch(deep, teacher)
    half = EncoderConfig(vocab_size=50, embedding_size=8, hidden_size=8, num_layers=1, num_heads=2,
                         intermediate_size=16, type_vocab_size=0, pooler=False)
    assert student_mismatch(half, teacher) is None


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e in table_names()
                                        and "finetune" in load_spec(e)["runs"].get("job_type", [])])
def test_every_swept_task_is_a_column_of_the_report(experiment, profile):
    # a task the sweep runs but no column reads is time spent for nothing; a column no job feeds is a gap
    swept = {o.split("=", 1)[1] for cell in cells(experiment, profile) for o in cell if o.startswith("task=")}
    if not swept:
        swept = {compose_config([f"experiment={experiment}", f"profile={profile}"]).task.name}
    spec = at_profile(load_spec(experiment), profile)
    read = {col["task"] for col in spec["columns"] if col.get("task")}
    assert swept == read, f"experiment={experiment} profile={profile}: sweeps {sorted(swept)}, report reads {sorted(read)}"


def test_a_students_teacher_follows_the_jobs_profile_overrides():
    from bench.config.architecture import teacher_config

    cfg = compose_config(["experiment=distilbert_glue", "+cell=distilbert_student", "task=sst2",
                          "profile.model.num_layers=4", "profile.model.hidden_size=128"])
    teacher = effective_encoder_config(teacher_config(cfg))
    assert (teacher.num_layers, teacher.hidden_size) == (4, 128)
    assert effective_encoder_config(cfg).num_layers == 2
    check_job_config(cfg)  # the student is its (overridden) teacher at half depth: no refusal
