"""Failure accounting in a real joblib-launched sweep: a job that raises is recorded as failed, a
diverged one (non-finite loss) as diverged, the other jobs complete, the sweep exits 0, and the
report shows those states, never numbers. (A stop signal instead stops the sweep: exit 128 + the
signal, tests/jobs/test_signals.py.)"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.io import REPO_ROOT
from bench.results.report import build_table, load_spec, write_report
from bench.results.runs import read_runs
from tests.support.checks import check_sweep_console

# One job per learning rate: 1e-3 trains; 1e30 diverges (a non-finite loss within the 3 smoke
# steps); 2e-3 fails inside the job (a test callback raises at its step 1; the others go on).
LRS = {1e-3: "finished", 1e30: "diverged", 2e-3: "failed"}
SPEC = """\
title: Failure accounting
runs: {group: adhoc, job_type: finetune}
rows:
  - {key: profile.finetune.lr, label: lr}
columns:
  - {name: SST-2, metrics: [sst2/acc], digits: 1}
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Three jobs on two joblib workers: one finishes, one diverges, one fails."""
    root = tmp_path_factory.mktemp("multirun")
    env = {**os.environ, "BENCH_CACHE_DIR": str(root / "cache"), "WANDB_MODE": "offline",
           "PYTHONPATH": str(REPO_ROOT)}  # the test callback (tests.support.kill) must import in the jobs
    env.pop("WANDB_SERVICE", None)
    # the entry point users run (installed beside this Python)
    cmd = [str(Path(sys.executable).with_name("bench-run")), "-m", "profile=smoke", "task=sst2", "hydra/launcher=joblib",
           "hydra.launcher.n_jobs=2", "profile.finetune.lr=1e-3,1e30,2e-3",
           "+callbacks.fail._target_=tests.support.kill.FailAtStep", "+callbacks.fail.step=1", "+callbacks.fail.lr=2e-3",
           f"hydra.sweep.dir={root / 'sweep'}"]
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    return root, out


def test_sweep_completes_and_exits_0(sweep):
    root, out = sweep
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ConfigStore schema" not in out.stdout + out.stderr  # Hydra's note on our launcher files, filtered
    runs = read_runs(root / "sweep")
    assert len(runs) == 3 and set(runs.group) == {"adhoc"}
    state = {float(lr): s for lr, s in zip(runs["config.profile.finetune.lr"], runs.state)}
    assert state == LRS
    error = {float(lr): e for lr, e in zip(runs["config.profile.finetune.lr"], runs["summary.error"])}
    assert "non-finite training loss" in error[1e30] and "RuntimeError: injected failure at step 1" in error[2e-3]
    assert list(runs.loc[runs.state == "diverged", "exit_code"]) == [0]  # stopped early, not crashed
    assert list(runs.loc[runs.state == "failed", "exit_code"]) == [1]
    assert list(runs.loc[runs["summary.sst2/acc"].notna(), "state"]) == ["finished"]  # only it has a score

def test_sweep_console_shows_each_job_once_with_its_result_and_the_counts(sweep):
    """Each job's start and result line (its state and why, where it has no score), one traceback for the
    failure, no warnings, the final counts and the report command's absence (no spec for `adhoc`)."""
    root, out = sweep
    messages = check_sweep_console(
        out.stdout, out.stderr,
        {"lr=0.001 ": "sst2/acc", "lr=1e+30 ": "diverged", "lr=0.002 ": "failed: RuntimeError: injected failure at step 1"},
        "1 finished, 1 failed, 0 interrupted, 0 skipped, 1 diverged", tracebacks=1)
    assert messages[0].startswith(f"sweep adhoc: 3 jobs, joblib launcher, outputs in {root / 'sweep'}")
    assert not [m for m in messages if "report:" in m]


def test_joblib_workers_share_the_cores(sweep):
    """joblib's loky backend caps each worker's threads at cores // n_jobs (each run's config records it)."""
    root, _ = sweep
    runs = read_runs(root / "sweep")
    want = max(1, (os.cpu_count() or 1) // 2)
    assert list(runs["config.env.torch_threads"]) == [want] * 3


def test_report_shows_states_never_numbers(sweep, tmp_path):
    root, _ = sweep
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "faults.yaml").write_text(SPEC)
    spec = load_spec("faults", spec_dir=tmp_path / "spec")
    runs = read_runs(root / "sweep", errors="mark")
    table = build_table(spec, runs)
    cells = {float(lr): measured for lr, measured, *_ in table.rows}
    assert set(cells) == set(LRS)
    assert (cells[1e30], cells[2e-3]) == ("diverged", "failed") and float(str(cells[1e-3]).split()[0]) >= 0
    (md,) = [p for p in write_report(spec, runs, tmp_path / "out") if p.suffix == ".md"]
    text = md.read_text()
    assert "Runs: 3 (1 finished, 1 failed, 1 diverged)" in text
    assert text.count(": failed: RuntimeError: injected failure at step 1") == 1
    assert text.count(": diverged: non-finite training loss") == 1



def test_a_stop_signal_stops_the_sweep_with_its_exit_code(tmp_path):
    """SIGTERM in one job of a joblib sweep: that job ends interrupted with its checkpoint, the sweep
    stops and exits 143 (the worker's exit travels back pickled)."""
    env = {**os.environ, "BENCH_CACHE_DIR": str(tmp_path / "cache"), "WANDB_MODE": "offline"}
    env.pop("WANDB_SERVICE", None)
    cmd = [sys.executable, "-m", "bench.jobs.run", "-m", "profile=smoke", "task=sst2", "hydra/launcher=joblib",
           "hydra.launcher.n_jobs=2", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}",
           "+callbacks.kill._target_=tests.support.kill.KillAtStep", "+callbacks.kill.step=2",
           "+callbacks.kill.signal=SIGTERM", f"+callbacks.kill.once={tmp_path / 'stopped'}"]
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 143, out.stderr[-3000:]
    assert re.search(r"ended after .*: 0 finished, 0 failed, 1 interrupted, 0 skipped", out.stdout), out.stdout
    runs = read_runs(tmp_path / "sweep")
    stopped = runs[runs.state == "interrupted"]
    assert len(stopped) == 1 and list(stopped.exit_code) == [143] and list(stopped["summary.signal"]) == ["SIGTERM"]
    assert list((tmp_path / "cache" / "jobs").rglob("last.ckpt"))
