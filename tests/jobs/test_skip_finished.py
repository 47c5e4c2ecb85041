"""A job that finished with the same config is not run again (bench/jobs/finished.py): one log line
with its headline result, its earlier summary, no W&B run; `rerun=true` runs it from scratch, and a
job whose config or data changed since runs again as a new job. What counts as the same config and data."""

import json
import logging

import pytest
from omegaconf import open_dict

from bench.config.compose import compose_config
from bench.jobs.finetune import finetune
from bench.jobs.finished import FINISHED_FILE, job_fingerprint
from bench.jobs.tracking import job_dir, run_name, run_tracked

OVERRIDES = ["profile=smoke", "task=sst2", "profile.finetune.max_steps=2"]


def run(overrides, wandb_dir) -> dict:
    cfg = compose_config(overrides)
    with open_dict(cfg):
        cfg.logger.dir = str(wandb_dir)
    return run_tracked(cfg, run_name(overrides, cfg.job_type), finetune, reraise=True)


def test_finished_job_is_skipped_rerun_forces_it(tmp_path, cache, caplog, read_settled_runs):
    first = run(OVERRIDES, tmp_path / "w1")
    assert first["status"] == "finished" and "skipped" not in first
    jdir = job_dir(compose_config(OVERRIDES), run_name(OVERRIDES, "finetune"))
    done = json.loads((jdir / FINISHED_FILE).read_text())
    assert done["summary"]["sst2/acc"] == first["sst2/acc"] and done["run_id"] == (jdir / "wandb_id").read_text()

    with caplog.at_level(logging.INFO, logger="bench.jobs.tracking"):
        again = run(OVERRIDES, tmp_path / "w2")
    assert again["skipped"] is True and {k: again[k] for k in first} == first
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert f"sst2/acc={first['sst2/acc']}" in line and done["run_id"] in line and "rerun=true" in line
    assert not (tmp_path / "w2").exists() or not list((tmp_path / "w2").rglob("*.wandb"))  # no W&B run

    forced = run([*OVERRIDES, "rerun=true"], tmp_path / "w3")  # `rerun` is not part of the job's name
    assert forced["status"] == "finished" and "skipped" not in forced and "resumed_from" not in forced
    runs = read_settled_runs([tmp_path / "w1", tmp_path / "w3"])
    assert len(set(runs.run_id)) == 2 and set(runs.state) == {"finished"}


@pytest.mark.parametrize("changed", ["fingerprint", "data"])
def test_a_job_whose_config_or_data_changed_runs_again(changed, tmp_path, cache, read_settled_runs):
    run(OVERRIDES, tmp_path / "w1")
    jdir = job_dir(compose_config(OVERRIDES), run_name(OVERRIDES, "finetune"))
    done = json.loads((jdir / FINISHED_FILE).read_text())
    assert set(done["data"]) >= {"tokenizer", "corpus", "task"}  # the data's content identity
    # as if a profile or task file had been edited since, or the world or tokenizer rebuilt with other bytes
    done[changed] = "0" * 64 if changed == "fingerprint" else {**done["data"], "tokenizer": "0" * 64}
    (jdir / FINISHED_FILE).write_text(json.dumps(done))
    again = run(OVERRIDES, tmp_path / "w2")
    assert again["status"] == "finished" and "skipped" not in again
    assert list(read_settled_runs(tmp_path / "w2").run_id) != [done["run_id"]]  # a new job, a new run


def test_what_counts_as_the_same_config():
    base = compose_config(OVERRIDES)
    same = compose_config([*OVERRIDES, "paths.cache=/elsewhere", "logger.tags=[x]", "rerun=true",
                           "profile.finetune_checkpoint.every_n_steps=7", "+callbacks.kill._target_=a.B",
                           "speed.max_examples=7", "profile.race_task=race"])  # timing / sweep-only settings
    with open_dict(same):
        same.job_dir = "/some/job/dir"
    for cfg in (base, same):
        with open_dict(cfg):
            cfg.logger.dir = "/w"
    assert job_fingerprint(same) == job_fingerprint(base)
    other = compose_config([*OVERRIDES, "profile.finetune.lr=2e-3"])
    with open_dict(other):
        other.logger.dir = "/w"
    assert job_fingerprint(other) != job_fingerprint(base)
    timing = [compose_config(["profile=smoke", "job_type=speed", *extra]) for extra in ([], ["speed.max_examples=7"])]
    for cfg in timing:
        with open_dict(cfg):
            cfg.logger.dir = "/w"
    assert job_fingerprint(timing[0]) != job_fingerprint(timing[1])  # a timing job's own settings count


def test_a_job_name_leaves_out_what_does_not_make_another_job():
    overrides = ["experiment=x", "task=sst2", "seed=1", "+callbacks.kill.step=3", "hydra.sweep.dir=/x", "rerun=true",
                 "profile.pretrain_checkpoint.every_n_steps=3", "~profile.finetune_checkpoint", "logger.mode=online",
                 "paths.cache=/c", "profile.finetune.lr=1e-3"]
    assert run_name(overrides, "finetune") == "finetune:profile.finetune.lr=1e-3,seed=1,task=sst2"
