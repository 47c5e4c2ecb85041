"""bench.benchmarks.cost: the sweep's jobs in launch order, and the schedule with the store's lock."""

from bench.benchmarks.cost import Job, Pretraining, plan, schedule
from bench.benchmarks.tables_runs import busy_seconds, walls_of
from lightning_modules.encoder import EncoderConfig

ARCH = EncoderConfig(vocab_size=50, embedding_size=8, hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16)


class FakeModel:
    """100 s per pretraining, 10 s per fine-tuning job."""

    def pretrain_s(self, p):
        return 100.0

    def finetune_s(self, job):
        return {"job": 0.0, "steps": 10.0, "eval": 0.0}


def pretraining(key: str) -> Pretraining:
    return Pretraining(key, ARCH, "albert", 10, 8, 1, 16, "{}", "", 1)


def job(key: str, task: str = "sst2") -> Job:
    return Job("x", (f"k={key}", f"task={task}"), task, "classification", ARCH, 10, pretraining(key))


def test_a_job_waits_for_the_encoder_another_worker_is_pretraining():
    task_fastest = [job("a", "sst2"), job("a", "mnli"), job("b", "sst2"), job("b", "mnli")]
    # the second job waits 100 s on the lock of encoder a, the fourth on b: the pretrainings run one at a time
    assert schedule(task_fastest, FakeModel(), 2, {}) == 220.0
    row_fastest = [job("a", "sst2"), job("b", "sst2"), job("a", "mnli"), job("b", "mnli")]
    assert schedule(row_fastest, FakeModel(), 2, {}) == 120.0  # both encoders at once


def test_an_encoder_trained_by_an_earlier_experiment_is_not_trained_again():
    trained = {"a": 0.0}
    assert schedule([job("a")], FakeModel(), 2, trained) == 10.0


def test_the_plan_is_the_sweep_in_launch_order_with_the_experiment_seeds():
    jobs = plan("roberta_masking", "tiny", None)
    assert len(jobs) == 3 * 2 * 3  # task x objective x seed
    assert [j.task for j in jobs[:6]] == ["squad_v2"] * 6  # task outermost: parallel workers pretrain different encoders
    assert len({j.pretraining.key for j in jobs[:6]}) == 6 and len({j.pretraining.key for j in jobs}) == 6
    assert len(plan("roberta_masking", "tiny", 1)) == 6


def test_measured_wall_is_the_busy_time_of_the_runs_not_the_pauses_between_sittings():
    # two overlapping jobs, a pause (a sitting ended), two more, one inside another; a run with no runtime
    runs = [(0, 10), (5, 15), (1000, 1010), (1002, 1004), (2000, float("nan"))]
    assert busy_seconds(runs) == 25
    assert busy_seconds([]) == 0


def test_walls_of_read_runs_frames_group_by_experiment():
    import pandas as pd

    t0 = pd.Timestamp("2026-12-05 06:00", tz="UTC")
    frame = pd.DataFrame({"group": ["a", "a", "b"], "start_time": [t0, t0 + pd.Timedelta(seconds=5), t0],
                          "summary._runtime": [10.0, 10.0, None]})
    assert walls_of(frame) == {"a": 15.0, "b": 0.0}


def test_a_job_resumed_in_a_later_sitting_counts_both_attempts(tmp_path):
    from bench.benchmarks.tables_runs import measured_walls
    from tests.support.wandb_writer import write_run_file

    t0 = 1.8e9
    # one job: 100 s in the first sitting, stopped, resumed a day later for 60 s (a second run dir, same id);
    # another job of the same experiment overlapping the first attempt by 50 s
    for sub, run_id, start, runtime in (("a1", "r1", t0, 100), ("a2", "r1", t0 + 86400, 60), ("b", "r2", t0 + 50, 100)):
        write_run_file(tmp_path / sub / "wandb" / f"offline-run-20270101_000000-{run_id}", run_id=run_id,
                       name="finetune:seed=0", group="x", job_type="finetune", config={"experiment": "x"},
                       summary={"_runtime": runtime}, history=[], exit_code=0, start_time=start)
    assert measured_walls(str(tmp_path)) == {"x": 150 + 60}


def test_the_benchmark_costs_the_tables_in_make_tables_order():
    import subprocess

    from bench.benchmarks.cost import EXPERIMENTS
    from bench.io import REPO_ROOT

    # the Makefile's own TABLES, printed by a rule added on the command line (no recipe of the Makefile runs)
    out = subprocess.run(["make", "-s", "--no-print-directory", "--eval=print-tables: ; @echo $(TABLES)", "print-tables"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == EXPERIMENTS
