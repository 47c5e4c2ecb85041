"""Every experiment config composes and runs one cell at the smoke profile (LHT's test_sweeps
pattern); one real multirun goes end to end: sweep -> W&B offline -> report rows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from bench.config.compose import compose_config
from bench.io import CONF_DIR, REPO_ROOT
from bench.jobs.run import job_function
from bench.jobs.tracking import run_name, run_tracked
from bench.results.report import load_spec, table_names
from bench.results.runs import read_runs
from tests.support.checks import check_finetune_run, check_sweep_console

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def first_cell(experiment: str) -> list[str]:
    """The overrides of the sweep's first cell: the first value of every swept key."""
    cfg = compose_config([f"experiment={experiment}"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True) or {}  # ${profile.*} as Hydra reads it
    assert params, f"conf/experiment/{experiment}.yaml has no hydra.sweeper.params"
    return [f"{k}={str(v).split(',')[0].strip()}" for k, v in params.items()]


def test_every_experiment_has_a_report_spec():
    assert set(EXPERIMENTS) <= set(table_names())
    for name in EXPERIMENTS:
        assert load_spec(name)["runs"]["group"] == name


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_with_every_sweep_value(experiment):
    cfg = compose_config([f"experiment={experiment}"], return_hydra_config=True)
    assert cfg.experiment == experiment
    for key, values in OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True).items():  # ${profile.*} resolved
        for value in str(values).split(","):
            c = compose_config([f"experiment={experiment}", f"{key}={value.strip()}"])
            assert c.experiment == experiment


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweeps")
    old = {k: os.environ.get(k) for k in ("BENCH_CACHE_DIR",)}
    os.environ["BENCH_CACHE_DIR"] = str(root / "cache")
    yield root
    for k, v in old.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


# the *_released tables import hub checkpoints on data=hub: their first cells run in tests/jobs/test_released.py
LOCAL_EXPERIMENTS = [e for e in EXPERIMENTS if not e.endswith("_released")]


@pytest.mark.parametrize("experiment", LOCAL_EXPERIMENTS)
def test_experiment_first_cell_runs_at_smoke(experiment, smoke_env, read_settled_runs):
    overrides = [f"experiment={experiment}", "profile=smoke", *first_cell(experiment)]
    cfg = compose_config(overrides)
    with open_dict(cfg):
        cfg.logger.dir = str(smoke_env / "wandb" / experiment)
        cfg.logger.mode = "offline"
    summary = run_tracked(cfg, run_name(overrides[1:], cfg.job_type), job_function(cfg.job_type), reraise=True)
    assert summary["status"] == "finished"
    assert summary["params/total"] > 0
    if cfg.job_type == "finetune":
        assert any(k.startswith(f"{cfg.task.name}/") for k in summary), summary
    runs = read_settled_runs(smoke_env / "wandb" / experiment)
    assert list(runs.state) == ["finished"] and list(runs.group) == [experiment], runs.T.to_string()


def test_multirun_end_to_end_report(tmp_path):
    """A real multirun (two masking recipes x SST-2) through W&B offline to the report's rows: its console
    output (tests/jobs/test_console.py), its runs' curves and lineage, the report."""
    env = {**os.environ, "BENCH_CACHE_DIR": str(tmp_path / "cache"), "WANDB_MODE": "offline"}
    sweep = tmp_path / "multirun"
    cmd = [sys.executable, "-m", "bench.jobs.run", "experiment=roberta_masking", "profile=smoke",
           "hydra.sweeper.params.task=sst2", "hydra.sweeper.params.seed=0", "trainer.log_every_n_steps=1",
           f"hydra.sweep.dir={sweep}"]
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    check_sweep_console(out.stdout, out.stderr, {"objective=roberta_static": "sst2/acc", "objective=roberta ": "sst2/acc"},
                        "2 finished, 0 failed, 0 interrupted, 0 skipped", report=f"experiment=roberta_masking runs={sweep}")
    runs = read_runs(sweep, history=True)
    assert sorted(runs["config.objective.masking"]) == ["dynamic", "static"]
    assert set(runs.state) == {"finished"}
    for run in runs.to_dict("records"):  # each job pretrained its encoder (a store miss): it logged and names it
        check_finetune_run(run, logged_encoder=True)
    reports = tmp_path / "reports"
    rep = subprocess.run([sys.executable, "-m", "bench.results.report", "experiment=roberta_masking", f"runs={sweep}",
                          f"out={reports}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr[-3000:]
    text = (reports / "roberta_masking.md").read_text()
    assert "smoke" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| static") or line.startswith("| dynamic")]
    assert len(table_rows) == 2, text
    assert all("missing" not in row.split("|")[3] for row in table_rows), text  # SST-2 measured in both rows
    assert Path(reports / "README.md").exists()
