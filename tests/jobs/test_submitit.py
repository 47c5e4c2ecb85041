"""The cluster path for real: a 2-job smoke sweep through `hydra/launcher=submitit_local` (submitit's
own job processes, pickled jobs and signal handlers, as on SLURM). In the first run, one job gets
submitit's preemption signal (SIGUSR2) at step 2: it writes its checkpoint, submitit requeues it and
it resumes in a new process; one job gets SIGTERM at step 3: it is recorded as interrupted with its
checkpoint kept, and the sweep exits non-zero. The same sweep run again resumes that job under its
W&B run id and skips the job that finished. Each run writes its own sweep dir (as Hydra's timestamped
ones), and the report reads them all. (A finished job is skipped whatever the launcher,
tests/jobs/test_skip_finished.py; a report rebuilt from the same runs is byte-identical, tests/results/test_report.py.)"""

import os
import subprocess
import sys

import pytest

from bench.io import REPO_ROOT
from bench.results.runs import read_runs

SWEEP = ["experiment=roberta_masking", "profile=smoke", "hydra.sweeper.params.task=sst2", "hydra.sweeper.params.seed=0",
         "hydra/launcher=submitit_local", "profile.finetune.max_steps=6"]


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """Two runs of the sweep (the first one with a SIGUSR2 at step 2 and a SIGTERM at step 3, each to
    whichever job gets there first), and the report after the second."""
    root = tmp_path_factory.mktemp("submitit")
    env = {**os.environ, "BENCH_CACHE_DIR": str(root / "cache"), "WANDB_MODE": "offline"}
    env.pop("WANDB_SERVICE", None)
    stop = [f"+callbacks.{name}.{key}={value}" for name, step, sig in (("requeue", 2, "SIGUSR2"), ("kill", 3, "SIGTERM"))
            for key, value in (("_target_", "tests.support.kill.KillAtStep"), ("step", step), ("signal", sig),
                               ("once", root / name))]
    out: dict = {"root": root}
    for n, extra in ((1, stop), (2, [])):
        out[n] = subprocess.run([sys.executable, "-m", "bench.jobs.run", *SWEEP, *extra,
                                 f"hydra.sweep.dir={root / 'multirun' / str(n)}"],
                                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
        out[f"checkpoints{n}"] = sorted((root / "cache" / "jobs").rglob("last.ckpt"))
        if n == 2:
            report = root / f"report{n}"
            rep = subprocess.run([sys.executable, "-m", "bench.results.report", "experiment=roberta_masking",
                                  f"runs={root / 'multirun'}", f"out={report}", "publish=false"],
                                 cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert rep.returncode == 0, rep.stderr[-3000:]
            out[f"report{n}"] = report / "roberta_masking.md"
    return out


def job_logs(sweep_dir) -> str:
    return "".join(p.read_text() for p in sweep_dir.glob("*/*.log"))


def test_a_preempted_job_is_requeued_by_submitit_and_resumes(sweeps):
    root = sweeps["root"]
    assert "Caught signal SIGUSR2" in "".join(p.read_text() for p in (root / "multirun" / "1").rglob("*_log.err"))
    runs = read_runs(root / "multirun" / "1")
    assert sorted(runs.resumed) == [False, True]  # the requeued job: a second W&B dir under its run id


def test_a_stopped_job_is_interrupted_and_keeps_its_checkpoint(sweeps):
    root, first = sweeps["root"], sweeps[1]
    assert first.returncode != 0 and "UncompletedJobError" in first.stderr  # the sweep says a job did not end
    runs = read_runs(root / "multirun" / "1")
    assert sorted(runs.state) == ["finished", "interrupted"], runs[["state", "summary.error"]]
    stopped = runs[runs.state == "interrupted"].iloc[0]
    assert stopped["summary.signal"] == "SIGTERM" and stopped.exit_code == 143
    assert len(sweeps["checkpoints1"]) == 1 and not sweeps["checkpoints2"]  # kept, then gone once finished


def test_the_sweep_again_resumes_it_and_skips_the_finished_job(sweeps):
    root, second = sweeps["root"], sweeps[2]
    assert second.returncode == 0, second.stderr[-3000:]
    first = read_runs(root / "multirun" / "1")
    stopped_id = first.loc[first.state == "interrupted", "run_id"].iloc[0]
    assert list(read_runs(root / "multirun" / "2").run_id) == [stopped_id]  # one new W&B dir: the resumed job
    logs = job_logs(root / "multirun" / "2")
    assert logs.count("skipped finetune:") == 1 and "sst2/acc=" in logs
    runs = read_runs(root / "multirun")
    assert len(runs) == 2 and set(runs.state) == {"finished"}
    assert list(runs.loc[runs.run_id == stopped_id, "resumed"]) == [True]
    text = sweeps["report2"].read_text()  # the report reads both sweep dirs: each job once, finished
    assert "| static" in text and "| dynamic" in text and "2 finished" in text
