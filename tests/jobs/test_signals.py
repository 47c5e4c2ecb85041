"""Stop signals outside a fit (data preparation, scoring, a speed job: bench/jobs/interrupts.py): the
job stops at once, its W&B run ends interrupted (never finished) with the signal named, the job dir
is kept, the exception exits 128 + the signal, also in a sweep; a requeue handler set before the job
(submitit's) runs after it stopped; the handlers before the job are back afterwards. (During a fit:
tests/jobs/test_resume.py, test_submitit.py.)"""

import os
import pickle
import signal

import pytest
from omegaconf import open_dict

from bench.config.compose import compose_config
from bench.jobs.finished import FINISHED_FILE
from bench.jobs.interrupts import Interrupted
from bench.jobs.tracking import job_dir, run_tracked


def stopped_by(signum):
    def job(cfg, run):
        os.kill(os.getpid(), signum)
        raise AssertionError("the signal stops the job before this line")

    return job


def tracked(tmp_path, job, name="signals"):
    cfg = compose_config(["profile=smoke"])
    with open_dict(cfg):
        cfg.logger.dir = str(tmp_path / "w")
    return cfg, lambda: run_tracked(cfg, name, job, reraise=False)  # as in a sweep: still raised


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGUSR1, 138)])
def test_a_stop_signal_ends_the_job_as_interrupted(signum, code, tmp_path, cache, read_settled_runs):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    cfg, go = tracked(tmp_path, stopped_by(signum))
    with pytest.raises(Interrupted) as err:
        go()
    assert err.value.code == code and pickle.loads(pickle.dumps(err.value)).code == code  # joblib pickles it back
    assert {s: signal.getsignal(s) for s in before} == before
    jdir = job_dir(cfg, "signals")
    assert (jdir / "wandb_id").exists() and not (jdir / FINISHED_FILE).exists()
    runs = read_settled_runs(tmp_path / "w")
    assert list(runs.state) == ["interrupted"] and list(runs.exit_code) == [code]
    assert list(runs["summary.signal"]) == [signal.Signals(signum).name]


def test_a_requeue_handler_set_before_the_job_runs_after_it_stopped(tmp_path, cache, read_settled_runs):
    """As submitit's SIGUSR2 handler: it requeues the job and exits (144 in submitit_local)."""
    calls = []

    def requeue(signum, frame):
        calls.append(signum)
        raise SystemExit(144)

    previous = signal.signal(signal.SIGUSR2, requeue)
    try:
        _, go = tracked(tmp_path, stopped_by(signal.SIGUSR2))
        with pytest.raises(SystemExit) as err:
            go()
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert err.value.code == 144 and calls == [signal.SIGUSR2]
    runs = read_settled_runs(tmp_path / "w")
    assert list(runs.state) == ["interrupted"] and list(runs["summary.signal"]) == ["SIGUSR2"]
