"""The run reader on runs written by real wandb (offline), one clean subprocess per run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from bench.results.runfile import RunFileError, read_run_file
from bench.results.runs import BASE_COLUMNS, find_run_files, read_runs
from tests.support.wandb_writer import write_run_file

# One job, as bench's tracking does it: the Hydra config (with `experiment`, `job_type`) passed at
# init, then what the scenario asks: finish, raise, log status=failed, or SIGKILL itself.
JOB = r"""
import json, os, signal, sys, wandb
a = json.loads(sys.argv[1])
cfg = {"experiment": "albert_sharing", "job_type": "finetune", "seed": a.get("seed", 0),
       "model": {"name": "ALBERT-base", "embedding_size": 128, "sharing": "all", "num_layers": 12},
       "task": {"name": "squad_v1"}, "profile": {"name": "tiny"}}
run = wandb.init(project="bench", group="albert_sharing", job_type="finetune", name=a["name"], id=a["id"],
                 config=cfg, resume=a.get("resume"))
run.define_metric("train/*", step_metric="trainer/global_step")
if a.get("artifact"):  # as bench/jobs/lineage.py logs a stored encoder: files referenced in place
    path = os.path.join(os.environ["WANDB_DIR"], "weights.bin")
    with open(path, "wb") as f:
        f.write(b"\0" * 64)
    art = wandb.Artifact(a["artifact"], type="model", metadata={"store_key": "abc"})
    art.add_file(path, policy="immutable")
    run.log_artifact(art)
for i in range(a.get("steps", 3)):
    row = {"train/loss": 1.0 / (i + 1), "attempt": a.get("attempt", 1), "pad": "x" * 40}
    run.log(row, step=a["first_step"] + i) if "first_step" in a else run.log(row)
mode = a["mode"]
if mode == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "raise":
    raise RuntimeError("boom in the job")
run.summary["params/total"] = 11683584
run.summary["squad_v1/f1"] = 45.5
run.summary["squad_v1/exact_match"] = 38.0
if mode == "caught":
    run.summary.update({"status": "failed", "error": "ValueError: caught by the job"})
elif mode == "diverged":
    run.summary.update({"status": "diverged", "error": "loss is nan at step 2"})
else:
    run.summary["status"] = "finished"
run.finish()
"""


def _launch(tmp: Path, **args) -> subprocess.Popen:
    # A clean W&B environment: an earlier in-process run (other tests) leaves variables such as
    # WANDB_SERVICE pointing at that process's wandb-core, which a child must not join.
    base = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env = {**base, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp), "WANDB_SILENT": "true",
           "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true"}
    return subprocess.Popen([sys.executable, str(tmp / "job.py"), json.dumps(args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wandb_runs")
    (tmp / "job.py").write_text(JOB)
    jobs = [
        dict(id="fin01", name="finetune:ok", mode="finish", artifact="encoder-abc"),
        dict(id="rai01", name="finetune:raises", mode="raise"),
        dict(id="cau01", name="finetune:caught", mode="caught"),
        dict(id="div01", name="finetune:diverged", mode="diverged"),
        # enough history to fill whole 32 KiB blocks before the kill (the writer flushes whole blocks)
        dict(id="kil01", name="finetune:killed", mode="kill", steps=400),
        dict(id="kil02", name="finetune:killed-early", mode="kill", steps=2),  # nothing reaches the log
        dict(id="res01", name="finetune:resumed", mode="kill", steps=400),  # first attempt, killed
    ]
    procs = [_launch(tmp, **j) for j in jobs]
    codes = {j["id"]: p.wait(timeout=120) for j, p in zip(jobs, procs)}
    assert codes["fin01"] == 0 and codes["rai01"] == 1 and codes["kil01"] == -9
    # second attempt with the same id: offline W&B writes a new directory; it goes on at step 250
    # (the killed attempt's wandb-core may still be shutting down: one retry after a pause)
    for _ in range(2):
        p = _launch(tmp, id="res01", name="finetune:resumed", mode="finish", steps=10, first_step=250,
                    attempt=2, resume="allow")
        if p.wait(timeout=120) == 0:
            break
        time.sleep(3)
    assert p.returncode == 0
    return tmp / "wandb"


@pytest.fixture(scope="module")
def frame(runs_dir) -> pd.DataFrame:
    return read_runs(runs_dir, history=True).set_index("run_id")


def test_one_row_per_run_with_fixed_columns(frame, runs_dir):
    assert sorted(frame.index) == ["cau01", "div01", "fin01", "kil01", "kil02", "rai01", "res01"]
    assert list(frame.reset_index().columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    assert (runs_dir / "latest-run").is_symlink()  # W&B's link to the newest run is not read twice
    assert len(find_run_files(runs_dir)) == 8


def test_finished_run(frame):
    r = frame.loc["fin01"]
    assert (r["state"], r["group"], r["job_type"], r["name"]) == ("finished", "albert_sharing", "finetune", "finetune:ok")
    assert r["exit_code"] == 0 and not r["resumed"]
    assert r["config.model.sharing"] == "all" and r["config.model.embedding_size"] == 128
    assert r["config.task.name"] == "squad_v1" and r["config.profile.name"] == "tiny"
    assert r["summary.squad_v1/f1"] == 45.5 and r["summary.params/total"] == 11683584
    assert r["summary.status"] == "finished"
    assert "config._wandb" not in frame.columns
    assert list(r["history"].index) == [0, 1, 2]


def test_logged_artifacts_and_metric_definitions(frame):
    """An artifact logged offline is in the run file (what `wandb sync` uploads); define_metric too."""
    (art,) = json.loads(frame.loc["fin01", "artifacts"])
    assert (art["name"], art["type"], art["files"]) == ("encoder-abc", "model", ["weights.bin"]) and art["digest"]
    assert json.loads(frame.loc["rai01", "artifacts"]) == []
    rf = read_run_file(frame.loc["fin01", "file"])
    assert rf.metrics == {"train/*": "trainer/global_step"}
    assert rf.artifacts[0]["metadata"] == {"store_key": "abc"} and rf.used_artifacts == []


@pytest.mark.parametrize("run_id, state", [("rai01", "failed"), ("cau01", "failed"), ("div01", "diverged")])
def test_failed_and_diverged_runs(frame, run_id, state):
    assert frame.loc[run_id, "state"] == state


def test_exception_gives_exit_code_1(frame):
    assert frame.loc["rai01", "exit_code"] == 1
    assert frame.loc["cau01", "summary.error"] == "ValueError: caught by the job"


def test_killed_run_is_crashed_with_history_values(frame):
    r = frame.loc["kil01"]
    assert r["state"] == "crashed" and pd.isna(r["exit_code"])
    assert pd.isna(r["summary.squad_v1/f1"])  # never logged before the kill
    hist = r["history"]
    assert 0 < len(hist) <= 400  # part of the history may be lost with the tail
    assert r["summary.train/loss"] == pytest.approx(hist["train/loss"].iloc[-1], rel=0.05)


def test_killed_before_any_block_is_recovered_from_debug_log(frame, runs_dir):
    (f,) = [p for p in find_run_files(runs_dir) if p.name == "run-kil02.wandb"]
    assert f.stat().st_size == 7  # only the file header reached disk
    r = frame.loc["kil02"]
    assert r["state"] == "crashed"
    assert (r["group"], r["job_type"], r["config.model.sharing"]) == ("albert_sharing", "finetune", "all")


def test_resumed_id_is_merged(frame, runs_dir):
    r = frame.loc["res01"]
    assert r["resumed"] and r["state"] == "finished" and r["summary.squad_v1/f1"] == 45.5
    hist = r["history"]
    assert hist.index.is_unique and hist.index.is_monotonic_increasing
    assert hist.index[-1] == 259 and hist.loc[259, "attempt"] == 2
    assert (hist.loc[hist.index < 250, "attempt"] == 1).all()  # the first attempt's steps before the restart
    dirs = sorted(p.parent for p in find_run_files(runs_dir) if p.name == "run-res01.wandb")
    assert len(dirs) == 2 and r["run_dir"] == str(dirs[-1])  # the later directory's state won


def test_filters_compare_as_text(runs_dir):
    df = read_runs(runs_dir, filters={"group": "albert_sharing", "config.model.embedding_size": "128",
                                      "state": ["failed", "diverged"]})
    assert sorted(df["run_id"]) == ["cau01", "div01", "rai01"]
    assert read_runs(runs_dir, filters={"group": "other"}).empty


def _copy_run(runs_dir: Path, run_id: str, dest: Path) -> Path:
    (src,) = [p for p in find_run_files(runs_dir) if p.name == f"run-{run_id}.wandb"]
    d = dest / f"offline-run-20260101_000000-{run_id}"
    shutil.copytree(src.parent, d, symlinks=True)
    return d / src.name


def test_corrupt_file_is_named(runs_dir, tmp_path):
    f = _copy_run(runs_dir, "fin01", tmp_path)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(RunFileError, match=rf"{f.name}.*(CRC mismatch|corrupt)"):
        read_runs(tmp_path)
    df = read_runs(tmp_path, errors="mark", filters={"group": "albert_sharing"})
    assert df["state"].tolist() == ["corrupt"] and str(f) in df["read_error"].iloc[0]
    assert df["group"].iloc[0] == "albert_sharing"  # what came before the damage is kept


def test_file_cut_mid_chunk_is_truncated_not_crashed(runs_dir, tmp_path):
    f = _copy_run(runs_dir, "fin01", tmp_path)
    f.write_bytes(f.read_bytes()[:-20])
    with pytest.raises(RunFileError, match=rf"{f.name}: truncated at byte"):
        read_runs(tmp_path)


def test_settled_reader_waits_out_a_write_caught_midway(runs_dir, tmp_path, read_settled_runs):
    """The tests' reader of just-finished runs: a file that ends inside a chunk while its writer is
    still at work (as CI once caught) is read again once whole, not reported as truncated."""
    f = _copy_run(runs_dir, "fin01", tmp_path)
    whole = tmp_path / "whole.wandb"  # outside the run dirs; os.replace swaps it in at once (no empty file seen)
    shutil.copyfile(f, whole)
    f.write_bytes(whole.read_bytes()[:-20])
    threading.Timer(0.5, os.replace, args=(whole, f)).start()
    runs = read_settled_runs(tmp_path)
    assert list(runs.run_id) == ["fin01"] and list(runs.state) == ["finished"]


def test_bad_header_is_named(tmp_path):
    d = tmp_path / "offline-run-20260101_000000-bad01"
    d.mkdir()
    (d / "run-bad01.wandb").write_bytes(b"not a run file")
    with pytest.raises(RunFileError, match="run-bad01.wandb: not a W&B run file"):
        read_runs(tmp_path)


def test_missing_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_runs(tmp_path / "nowhere")


def test_synthetic_writer_matches_wandb_core(tmp_path):
    """Files from write_run_file read the same with W&B's own inspector (when its binary is there)."""
    import wandb

    d = tmp_path / "offline-run-20260101_000000-syn01"
    f = write_run_file(d, run_id="syn01", name="n", group="g", job_type="finetune", config={"model": {"E": 128}},
                       history=[{"loss": 1.0}, {"loss": 0.5}], summary={"sst2/acc": 91.0}, exit_code=1,
                       start_time=1.7e9)
    core = Path(wandb.__file__).parent / "bin" / "wandb-core"
    if not core.exists():
        pytest.skip("wandb-core binary not bundled")
    out = subprocess.run([str(core), "leet", "inspect", "--summary", "--json", "-run-file", str(f)],
                         capture_output=True, text=True, timeout=60)
    theirs = json.loads(out.stdout)
    ours = read_runs(tmp_path).iloc[0]
    assert theirs["state"] == ours["state"] == "failed"
    assert theirs["config"] == {"model": {"E": 128}} and ours["config.model.E"] == 128
    assert theirs["summary"]["sst2/acc"] == ours["summary.sst2/acc"] == 91.0
    assert theirs["name"] == ours["name"] == "n"


def test_long_records_span_blocks(tmp_path):
    big = {"text": "y" * 100_000}  # one record over three 32 KiB blocks
    write_run_file(tmp_path / "offline-run-20260101_000000-big01", run_id="big01", config=big,
                   history=[{"loss": float(i)} for i in range(500)], summary={"ok": 1})
    r = read_runs(tmp_path, history=True).iloc[0]
    assert r["config.text"] == big["text"] and r["summary.ok"] == 1 and len(r["history"]) == 500


def test_online_runs_get_the_same_columns(runs_dir):
    class FakeRun(SimpleNamespace):
        def scan_history(self):
            return [{"_step": 0, "loss": 1.0}]

    runs = [
        FakeRun(id="on1", name="a", group="albert_sharing", job_type="finetune", state="finished",
                config={"model": {"sharing": "all"}, "_wandb": {}}, summary_metrics={"squad_v1/f1": 50.0},
                created_at="2026-01-01T00:00:00", url="https://wandb.example/r/on1"),
        FakeRun(id="on2", name="b", group="albert_sharing", job_type="finetune", state="killed",
                config={}, summary_metrics={}, created_at="2026-01-02T00:00:00", url=None),
        FakeRun(id="on3", name="c", group="albert_sharing", job_type="finetune", state="finished",
                config={}, summary_metrics={"status": "diverged"}, created_at="2026-01-03T00:00:00", url=None),
    ]
    seen = {}

    class FakeApi:
        def runs(self, path, filters=None):
            seen.update(path=path, filters=filters)
            return runs

    import bench.results.runs as wr

    from_online = wr.to_frame(wr.read_online("ent/proj", {"group": "albert_sharing", "job_type": ["finetune"]},
                                             api=FakeApi()))
    assert seen == {"path": "ent/proj", "filters": {"group": "albert_sharing", "jobType": {"$in": ["finetune"]}}}
    assert list(from_online.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    assert from_online["state"].tolist() == ["finished", "crashed", "diverged"]
    assert from_online.loc[0, "config.model.sharing"] == "all" and from_online.loc[0, "summary.squad_v1/f1"] == 50.0
    offline = read_runs(runs_dir)
    assert set(from_online.columns) <= set(offline.columns) | {"config.model.sharing"}
