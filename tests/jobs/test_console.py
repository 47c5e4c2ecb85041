"""The console's parts without a sweep: the sweep size as Hydra expands it, the job lines and their
accounting, the plain progress lines of a fit. (Real sweeps' output: test_sweeps.py and test_multirun.py,
through tests/support/checks.py.)"""

from __future__ import annotations

import json
import logging
import time

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from bench.config.compose import compose_config
from bench.io import CONF_DIR
from bench.jobs import progress
from bench.jobs.console import JOB_FILE, ConsoleFormatter, JobLine, count_jobs, result_text, sweep_jobs


@pytest.mark.parametrize(("command", "total"), [
    (["experiment=roberta_masking", "hydra.sweeper.params.task=sst2", "hydra.sweeper.params.seed=0"], 2),
    (["experiment=roberta_masking", "hydra.sweeper.params.seed=0", "seed=0,1"], 12),  # the command line wins
    (["task=sst2,mnli", "seed=0,1,2"], 6),
])
def test_sweep_size_is_what_the_basic_sweeper_launches(command, total):
    # as the launching process sees it: the sweep's command line in hydra.overrides.task (sweeps composed later)
    cfg = compose_config([c for c in command if "," not in c], return_hydra_config=True)
    task = [c for c in command if not c.startswith("hydra.")]
    assert len(sweep_jobs(OmegaConf.merge(cfg, {"hydra": {"overrides": {"task": task}}}))) == total


def test_job_lines_count_the_sweep_and_give_an_eta(tmp_path, caplog):
    sweep = {"total": 3, "started": time.time() - 20}
    lines = [JobLine(f"task=sst2 seed={n}", n, sweep, tmp_path / str(n)) for n in range(3)]
    for line in lines:
        line.out_dir.mkdir()
    with caplog.at_level(logging.INFO, logger="bench.jobs.console"):
        lines[0].start()
        lines[0].end("finished", "sst2/acc 51.5")
        lines[1].start()
        lines[1].end("failed", "failed: RuntimeError: boom")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "[1/3] task=sst2 seed=0"
    assert messages[1].startswith("[1/3] task=sst2 seed=0 -> sst2/acc 51.5 (0 s); sweep 1/3 done, ETA ")
    assert "sweep 2/3 done, ETA 10 s" in messages[3]  # 20 s for 2 jobs: 10 s for the last one
    assert count_jobs(tmp_path, sweep["started"]) == {"finished": 1, "failed": 1}
    assert count_jobs(tmp_path, time.time() + 1) == {}  # a sweep dir's earlier runs do not count
    assert json.loads((tmp_path / "1" / JOB_FILE).read_text())["outcome"] == "failed"


def test_the_eta_of_a_resumed_sweep_counts_only_the_jobs_that_ran(tmp_path, caplog):
    sweep = {"total": 10, "started": time.time() - 60}
    lines = [JobLine(f"seed={n}", n, sweep, tmp_path / str(n)) for n in range(10)]
    for line in lines[:5]:
        line.out_dir.mkdir()
    with caplog.at_level(logging.INFO, logger="bench.jobs.console"):
        for line in lines[:4]:
            line.start()
            line.end("skipped", "skipped, finished before")
        lines[4].start()
        lines[4].end("finished", "sst2/acc 51.5")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[1].endswith("sweep 1/10 done")  # nothing ran yet: no pace to go by
    assert messages[-1].endswith("sweep 5/10 done, ETA 5 min")  # 60 s for the one job that ran, 5 to go


def test_result_text_names_the_headline_or_the_state():
    cfg = compose_config(["task=mnli"])
    assert result_text(cfg, {"status": "finished", "mnli/acc_m": 51.4567, "mnli/acc_mm": 50.0}) == "mnli/acc_m 51.5"
    assert result_text(cfg, {"status": "diverged", "error": "non-finite training loss"}) == \
        "diverged: non-finite training loss"
    assert result_text(cfg, {"status": "interrupted", "signal": "SIGTERM", "error": "x"}) == "interrupted: SIGTERM"
    assert result_text(cfg, {"status": "finished", "skipped": True, "mnli/acc_m": 51.0}) == \
        "skipped, finished before (mnli/acc_m 51.0)"


def test_console_formatter_is_short_for_info_and_names_who_warns():
    fmt = ConsoleFormatter()
    info = logging.LogRecord("bench.x", logging.INFO, __file__, 1, "hello", None, None)
    warn = logging.LogRecord("bench.x", logging.WARNING, __file__, 1, "careful", None, None)
    assert fmt.format(info).split(" ", 1)[1] == "hello"
    assert fmt.format(warn).split(" ", 1)[1] == "WARNING bench.x: careful"


class _Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        from lightning_modules.optim import log_training_rates

        loss = self.layer(batch["input_ids"].float()).pow(2).mean()
        self.log("train/loss", loss, prog_bar=True)
        log_training_rates(self, "train", batch)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize(("tty", "sweep", "parallel", "mode"), [
    (True, False, False, "bar"), (False, False, False, "lines"), (True, True, False, "bar"),
    (True, True, True, "quiet"), (False, True, False, "quiet")])
def test_progress_mode(tty, sweep, parallel, mode):
    assert progress.configure(tty, sweep, parallel) == mode
    enable, callbacks = progress.fit_progress("fit")
    assert enable == (mode != "quiet") and [type(c).__name__ for c in callbacks] == (["ProgressLines"] if mode == "lines" else [])
    progress.configure(False, False, False)


def test_plain_progress_lines_every_quarter_with_loss_and_tokens_per_s(caplog):
    progress.configure(tty=False, sweep=False, parallel=False)
    rows = [{"input_ids": torch.ones(4, dtype=torch.long), "attention_mask": torch.ones(4)}] * 16
    batches = torch.utils.data.DataLoader(rows, batch_size=2)
    trainer = L.Trainer(max_steps=8, callbacks=progress.fit_progress("fine-tuning")[1], logger=False,
                        enable_checkpointing=False, enable_model_summary=False, accelerator="cpu")
    with caplog.at_level(logging.INFO, logger="bench.jobs.progress"):
        trainer.fit(_Tiny(), batches)
    lines = [r.getMessage() for r in caplog.records if r.name == "bench.jobs.progress"]
    assert lines[0] == "fine-tuning: 8 steps"
    assert [line.split(",")[0] for line in lines[1:]] == [f"fine-tuning: step {s}/8 ({s * 100 // 8}%)"
                                                          for s in (2, 4, 6, 8)]
    assert "train/loss" in lines[1] and "tokens/s" in lines[2] and "ETA" in lines[1] and "ETA" not in lines[-1]


def test_a_submitit_sweep_says_what_it_submits_and_where_the_logs_go(tmp_path, caplog):
    from bench.jobs import console

    command = ["experiment=roberta_masking", "hydra.sweeper.params.task=sst2", "hydra.sweeper.params.seed=0",
               "hydra/launcher=submitit_slurm", f"hydra.sweep.dir={tmp_path}"]
    cfg = compose_config(command, return_hydra_config=True)
    cfg = OmegaConf.merge(cfg, {"hydra": {"overrides": {"task": ["experiment=roberta_masking"]}}})
    with caplog.at_level(logging.INFO, logger="bench.jobs.console"):
        console.SweepConsole().on_multirun_start(cfg)
        console.sweep_ended()  # no job reported: none counted, the report and sync lines still name the sweep
    first, last, report = [r.getMessage() for r in caplog.records]
    assert first == (f"sweep roberta_masking: submitting 2 jobs to SLURM; their logs: {tmp_path}/.submitit/%j "
                     f"(%j: the job id), results: {tmp_path}/<n>")
    assert json.loads((tmp_path / "sweep.json").read_text())["total"] == 2
    assert last.endswith("0 finished, 0 failed, 0 interrupted, 0 skipped, 2 not run")
    assert report == f"report: bench-report experiment=roberta_masking runs={tmp_path}"


def test_a_job_line_leaves_out_the_profile_and_what_its_name_leaves_out():
    from bench.jobs.console import job_label

    overrides = ["experiment=x", "profile=tiny", "task=sst2", "+callbacks.kill.step=3", "rerun=true",
                 "profile.finetune.lr=1e-3", "seed=0"]
    assert job_label(overrides) == "task=sst2 profile.finetune.lr=1e-3 seed=0"


def test_a_sweep_with_a_cell_that_cannot_run_stops_before_any_job_starts(tmp_path, caplog):
    """Every cell is checked as the sweep starts (bench.jobs.checks.check_sweep): the bad ones are named, no job
    runs, not even the good cells launched before them (which could train for hours first)."""
    from hydra._internal.callbacks import Callbacks

    from bench.config.schema import SettingError
    from bench.jobs import console
    from bench.jobs.checks import check_sweep

    good = ["experiment=roberta_masking", "task=sst2"]
    assert check_sweep([[*good, "seed=0"], [*good, "seed=1"], [*good[:1], "task=mnli", "seed=0"]]) == 1  # one composition
    # bad for one task only: the swapped task node is what is checked, not the default task's
    rc = ["experiment=roberta_masking", "profile.finetune_by_type.multiple_choice.batch_size=-1"]
    jobs = [[*rc, f"task={t}", f"seed={s}"] for t in ("sst2", "race_middle", "mnli") for s in (0, 1)]
    with pytest.raises(SettingError, match=r"^sweep: 1 cell\(s\) cannot run, so no job was started: `profile.finetune_by_"
                                           r"type.multiple_choice.batch_size=-1 task=race_middle`: .* must be >= 1"):
        check_sweep(jobs)
    bad = ["experiment=roberta_masking", "task=mnli", "objective=roberta_static", "profile.model.num_heads=3"]
    with pytest.raises(SettingError, match=r"1 cell\(s\) cannot run.*`task=mnli objective=roberta_static "
                                           r"profile.model.num_heads=3`: model: hidden_size \(64\) must be divisible"):
        check_sweep([[*good, "seed=0"], [*bad, "seed=0"]])

    # through Hydra's callback dispatcher, which turns a callback's Exception into a warning: SystemExit passes
    command = ["experiment=roberta_masking", "hydra.sweeper.params.task=sst2", f"hydra.sweep.dir={tmp_path / 's'}"]
    cfg = compose_config(command, return_hydra_config=True)
    cfg = OmegaConf.merge(cfg, {"hydra": {"overrides": {"task": ["experiment=roberta_masking",
                                                                  "profile.model.num_heads=3"]}}})
    with pytest.raises(SystemExit, match="bench-run: sweep: 2 cell.*cannot run, so no job was started"):
        Callbacks(cfg).on_multirun_start(config=cfg)
    assert not (tmp_path / "s").exists()  # nothing written: no job started

    # a check that breaks (here: the task node cannot be read) leaves the jobs to check themselves, console intact
    def broken(jobs):
        raise FileNotFoundError("conf/task/x.yaml")

    import bench.jobs.checks

    original, bench.jobs.checks.check_sweep = bench.jobs.checks.check_sweep, broken
    try:
        cfg = OmegaConf.merge(cfg, {"hydra": {"overrides": {"task": ["experiment=roberta_masking"]}}})
        with caplog.at_level(logging.INFO, logger="bench.jobs.console"):
            console.SweepConsole().on_multirun_start(cfg)
    finally:
        bench.jobs.checks.check_sweep = original
        console.sweep_ended()
    messages = [r.getMessage() for r in caplog.records]
    assert "sweep not checked before its first job (FileNotFoundError: conf/task/x.yaml)" in messages[0]
    assert messages[1].startswith("sweep roberta_masking: 6 jobs") and (tmp_path / "s" / "sweep.json").exists()


def test_the_sweep_check_swaps_the_task_only_where_composing_it_gives_the_same(tmp_path):
    """One composition per row stands for composing each cell: the same config, task by task."""
    from bench.jobs.checks import check_sweep

    for experiment, tasks in {"albert_sharing": ("squad_v2", "race_middle"), "distilbert_glue": ("stsb", "wnli")}.items():
        for task in tasks:
            swapped = compose_config([f"experiment={experiment}"], return_hydra_config=True)
            swapped.task = OmegaConf.load(CONF_DIR / "task" / f"{task}.yaml")
            composed = compose_config([f"experiment={experiment}", f"task={task}"], return_hydra_config=True)
            assert OmegaConf.to_container(swapped.task) == OmegaConf.to_container(composed.task)
            assert OmegaConf.to_container(swapped, resolve=False)["model"] == \
                OmegaConf.to_container(composed, resolve=False)["model"]
    # a task.* override: every cell composed whole (no swap), still checked
    assert check_sweep([["task=sst2", "task.hparams.max_length=64", "seed=0"],
                        ["task=mnli", "task.hparams.max_length=64", "seed=0"]]) == 2
