"""The report stage: runs (offline files) -> reports/<table>.md (+ .png) and reports/README.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.results.report import SPEC_DIR, SpecError, fmt_params, load_paper, load_spec, main, table_names
from bench.results.report.spec import NOT_TABLES
from tests.results.report_support import T0, md_rows
from tests.results.report_support import md_table as _table
from tests.results.report_support import write_finetune_run as _run
from tests.support.wandb_writer import write_run_file


def _report(runs: Path, out: Path, *extra: str) -> str:
    """bench-report on the runs, without the W&B run (test_report_publish.py publishes)."""
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}", "publish=false", *extra]) == 0
    return (out / "albert_sharing.md").read_text()


def test_cells_mean_interval_states_and_missing(runs, tmp_path):
    md = _report(runs, tmp_path / "reports")
    header, rows = _table(md)
    assert header[:4] == ["E", "sharing", "Params", "Params (paper)"]
    row = rows[("768", "all-shared")]
    # mean of 60, 90, 70 and the 95% t-interval's half-width t(0.975, 2) * s / sqrt(3)
    assert row["MNLI"] == "73.3 ± 37.9 (n=3)" and row["MNLI (paper)"] == "82.0"
    assert row["SST-2"] == "80.0 (n=1)*"  # seed 1 failed: not averaged, the cell is flagged
    assert row["RACE"] == "40.0 (n=1)"  # the failed run of seed 0 was rerun
    assert row["SQuAD1.1 F1/EM"] == "45.2/38.0 (n=1)" and row["SQuAD1.1 F1/EM (paper)"] == "88.6/81.5"
    assert row["SQuAD2.0 F1/EM"] == "missing" and row["Avg"] == "n/a"
    assert row["Params"] == "0.48M" and row["Params (paper)"] == "31M"
    att = rows[("768", "shared-attention")]
    assert att["SST-2"] == "crashed" and att["MNLI"] == "diverged"
    assert rows[("128", "not-shared")]["RACE"] == "missing"  # a paper row with no run at all
    assert len(rows) == 8  # every paper row is shown


def test_failed_and_crashed_runs_are_listed_by_name(runs, tmp_path):
    md = _report(runs, tmp_path / "reports")
    notes = md[md.index("**Notes.**"):]
    assert "Runs: 10 (6 finished, 2 failed, 1 crashed, 1 diverged)" in notes
    assert "`finetune:E=768,sharing=all,task=sst2,seed=1` (run s1) [E=768, sharing=all-shared]: failed: RuntimeError: boom" in notes
    assert "(run r0) [E=768, sharing=all-shared]: failed: ValueError: caught" in notes
    assert "(run k0) [E=768, sharing=shared-attention]: crashed" in notes
    assert "(run d0) [E=768, sharing=shared-attention]: diverged: loss is nan" in notes
    assert "99.0" not in md  # the failed run's value is nowhere
    assert "E=768, sharing=all-shared (SQuAD2.0 F1/EM)" in notes  # missing cells are listed
    assert "E=128, sharing=not-shared (every column)" in notes
    assert "Seeds: 0, 1, 2 (3)" in notes and "Date: 2027-01-15" in notes


def test_tiny_profile_is_labelled(runs, tmp_path):
    md = _report(runs, tmp_path / "reports")
    title, _, claims = md.splitlines()[:3]
    assert title == "# ALBERT, cross-layer parameter sharing (ALBERT-base) — tiny profile"
    assert claims.startswith("**Claims of the paper**") and "tiny models trained on synthetic data" in claims
    caption = next(line for line in md.splitlines() if line.startswith("Measured at"))
    assert "**tiny** profile" in caption and "not comparable with the paper" in caption
    assert md.index(claims) < md.index(caption) < md.index("| E | sharing")  # the verdicts come first


def test_rerun_is_byte_identical_across_processes(runs, tmp_path):
    out = tmp_path / "reports"
    _report(runs, out)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"albert_sharing.md", "albert_sharing.png", "README.md"} <= set(first)
    subprocess.run([sys.executable, "-m", "bench.results.report", "experiment=albert_sharing", f"runs={runs}", f"out={out}",
                    "publish=false"], check=True, capture_output=True, timeout=120)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_corrupt_run_file_is_named_and_the_rest_reported(runs, tmp_path):
    _run(runs, "bad", task="sst2", sharing="ffn", t=30)
    (f,) = (runs / "bad").rglob("run-bad.wandb")
    data = bytearray(f.read_bytes())
    data[-10] ^= 0xFF
    f.write_bytes(bytes(data))
    md = _report(runs, tmp_path / "reports")
    assert "(run bad) [E=768, sharing=shared-FFN]: corrupt:" in md and "run-bad.wandb" in md
    assert _table(md)[1][("768", "shared-FFN")]["SST-2"] == "corrupt"
    assert _table(md)[1][("768", "all-shared")]["MNLI"] == "73.3 ± 37.9 (n=3)"


def test_old_report_stays_when_runs_cannot_be_read(runs, tmp_path):
    out = tmp_path / "reports"
    _report(runs, out)
    before = (out / "albert_sharing.md").read_bytes()
    assert main(["experiment=albert_sharing", f"runs={tmp_path / 'nowhere'}", f"out={out}", "publish=false"]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["experiment=albert_sharing", f"runs={empty}", f"out={out}", "publish=false"]) == 1  # no runs of the group
    assert (out / "albert_sharing.md").read_bytes() == before


def test_profiles_are_never_mixed(runs, tmp_path):
    _run(runs, "p0", values=[11.0], profile="paper", t=-5)  # an older paper-profile run
    md = _report(runs, tmp_path / "reports")
    assert _table(md)[1][("768", "all-shared")]["MNLI"] == "73.3 ± 37.9 (n=3)"
    assert "Runs at other profiles, not in this table: paper (1)." in md
    md = _report(runs, tmp_path / "reports", "profile=paper")
    assert md.splitlines()[0].endswith("— paper profile")
    assert _table(md)[1][("768", "all-shared")]["MNLI"] == "11.0 (n=1)"


def test_index_lists_every_report_and_the_census(runs, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "parameters.md").write_text("# Parameters\n")
    _report(runs, out)
    index = (out / "README.md").read_text()
    assert "[parameters.md](parameters.md)" in index and "bench-census" in index
    assert "[albert_sharing.md](albert_sharing.md), [albert_sharing.png](albert_sharing.png)" in index
    for name in table_names():
        assert f"{name}.md" in index
    assert "albert_depth.md (not generated yet)" in index
    assert "inference_backends.md (not generated yet)" in index  # written by its benchmark, not by bench-report
    (out / "inference_backends.md").write_text("# Inference backends\n")
    _report(runs, out)
    assert "[inference_backends.md](inference_backends.md) |" in (out / "README.md").read_text()
    (out / "inference_backends.png").write_bytes(b"png")
    _report(runs, out)
    assert "[inference_backends.md](inference_backends.md), [inference_backends.png](inference_backends.png)" \
        in (out / "README.md").read_text()


def test_every_spec_renders_from_synthetic_runs(tmp_path):
    from bench.benchmarks.report import make_runs

    make_runs(tmp_path / "runs", n=150)
    out = tmp_path / "reports"
    assert main(["all", f"runs={tmp_path / 'runs'}", f"out={out}", "publish=false"]) == 0
    assert sorted(p.stem for p in out.glob("*.md") if p.stem != "README") == table_names()
    specs = sorted(p.stem for p in SPEC_DIR.glob("*.yaml") if p.stem not in NOT_TABLES)  # every result table
    assert sorted(p.stem for p in out.glob("*.png")) == specs == table_names()
    for name in specs:  # each report links its figure, and the figure is a PNG
        assert f"]({name}.png)" in (out / f"{name}.md").read_text()
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nsp = (out / "roberta_nsp.md").read_text()
    assert "Published columns are empty" in nsp and "FULL-SENTENCES" in nsp
    for name in ("roberta_nsp", "albert_sharing", "bert_scaling"):  # tiny RACE columns read race_middle runs
        header, rows = _table((out / f"{name}.md").read_text())
        race = next(h for h in header if h.startswith("RACE") and "(paper)" not in h)
        assert any("(n=" in row[race] for row in rows.values()), name
    assert "我喜欢吃[MASK][MASK]" in (out / "wwm_chinese.md").read_text()
    header, rows = _table((out / "distilbert_speed.md").read_text())
    assert rows[("ELMo", "—")]["Params (paper)"] == "180M"  # published only: not a BERT-family model
    assert "Median latency (ms)" in header and "Median latency (ms) (paper)" not in header


def test_glue_score_column_uses_the_suite_convention(tmp_path):
    from bench.results.report import glue_task_metrics
    from lightning_modules.metrics.glue import GLUE_SCORE_CONVENTION, glue_score

    metrics = {"cola": {"mcc": 30.0}, "mnli": {"acc_m": 70.0, "acc_mm": 10.0}, "mrpc": {"f1": 80.0, "acc": 70.0},
               "qnli": {"acc": 75.0}, "qqp": {"f1": 60.0, "acc": 80.0}, "rte": {"acc": 55.0}, "sst2": {"acc": 85.0},
               "stsb": {"pearson": 50.0, "spearman": 40.0}, "wnli": {"acc": 45.0}}
    for i, (task, ms) in enumerate(metrics.items()):
        write_run_file(tmp_path / "runs" / f"offline-run-20270101_000000-g{i}", run_id=f"g{i}", group="distilbert_glue",
                       job_type="finetune", name=f"finetune:{task}",
                       config={"seed": 0, "task": {"name": task}, "model": {"name": "DistilBERT"},
                               "profile": {"name": "tiny"}},
                       summary={f"{task}/{k}": v for k, v in ms.items()} | {"status": "finished"}, start_time=T0 + i)
    assert main(["experiment=distilbert_glue", f"runs={tmp_path / 'runs'}", f"out={tmp_path / 'out'}", "publish=false"]) == 0
    md = (tmp_path / "out" / "distilbert_glue.md").read_text()
    header, rows = md_rows(md)
    row = dict(zip(header, next(r for r in rows if r[0] == "DistilBERT")))
    assert row["Score"] == f"{glue_score(metrics, glue_task_metrics()):.1f} (n=1)" and row["Score (paper)"] == "77.0"
    assert row["MRPC"] == "75.0 (n=1)" and row["MNLI"] == "70.0 (n=1)" and row["STS-B"] == "45.0 (n=1)"
    assert GLUE_SCORE_CONVENTION in md
    assert "the paper prints the median of 5 runs" in md  # the table keeps the mean (conf/report/README.md)


def test_params_are_printed_like_the_paper():
    assert [fmt_params(n) for n in (11_683_584, 108_490_752, 1_272_164_352, 3_400_000, 412_000)] == \
        ["12M", "108M", "1272M", "3.4M", "0.41M"]


def test_spec_errors_name_the_file_and_key(tmp_path):
    (tmp_path / "bad.yaml").write_text("title: t\nrows: []\ncolumns: []\ncolour: red\n")
    with pytest.raises(SpecError, match=r"bad.yaml: unknown key\(s\) \['colour'\]"):
        load_spec("bad", tmp_path)
    (tmp_path / "bad2.yaml").write_text(
        "title: t\npaper: albert_depth.csv\nrows: [{key: model.num_layers, label: depth}]\n"
        "columns: [{name: A, metrics: [x/acc], paper: acc}]\n")
    with pytest.raises(SpecError, match=r"albert_depth.csv has no column\(s\) \['depth', 'acc'\]"):
        load_paper(load_spec("bad2", tmp_path))
    (tmp_path / "bad3.yaml").write_text("title: t\nrows: []\ncolumns: [{name: Avg, mean_of: [MNLI]}]\n")
    with pytest.raises(SpecError, match="mean_of names 'MNLI', not an earlier column"):
        load_spec("bad3", tmp_path)
    (tmp_path / "bad4.yaml").write_text("title: t\nrows: []\ncolumns: [{name: M, metrics: [mnli/acc], combine: glue}]\n")
    with pytest.raises(SpecError, match=r"combine: glue needs the metrics of one GLUE task \(mnli/acc_m\)"):
        load_spec("bad4", tmp_path)


def test_unknown_argument_is_refused():
    with pytest.raises(SystemExit, match="unknown argument 'experimnt=x'"):
        main(["experimnt=x"])


def _corrupt(f: Path, at: int = -10) -> None:
    data = bytearray(f.read_bytes())
    data[at] ^= 0xFF
    f.write_bytes(bytes(data))


def test_console_counts_the_runs_of_each_table(runs, tmp_path, capsys):
    _run(runs, "bad", task="sst2", sharing="ffn", t=30)
    (f,) = (runs / "bad").rglob("run-bad.wandb")
    _corrupt(f)
    out = tmp_path / "reports"
    _report(runs, out)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("albert_sharing"))
    assert line == (f"albert_sharing (tiny): 11 runs: 6 finished, 2 failed, 1 crashed, 1 diverged, 1 corrupt (skipped) "
                    f"-> {out / 'albert_sharing.png'}, {out / 'albert_sharing.md'}")


@pytest.mark.parametrize("where", ["tail", "head"])  # group still readable / nothing readable at all
def test_all_corrupt_runs_leave_the_good_report_as_it_was(where, runs, tmp_path, capsys):
    out = tmp_path / "reports"
    _report(runs, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    files = sorted(runs.rglob("run-*.wandb"))
    for f in files:
        _corrupt(f, -10 if where == "tail" else 3)
    for args in (["experiment=albert_sharing"], ["all"]):
        assert main([*args, f"runs={runs}", f"out={out}", "publish=false"]) == 1
        err = capsys.readouterr().err
        assert all(str(f) in err for f in files), err
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    if where == "tail":
        assert "albert_sharing (tiny): 10 runs: 10 corrupt (skipped): every run file is unreadable" in err
        assert f"{out / 'albert_sharing.md'}, {out / 'albert_sharing.png'} left as they were" in err


def test_corrupt_reason_keeps_the_error_under_a_long_path(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 12) / "multirun"
    for i, v in enumerate([60.0, 70.0]):
        _run(deep, f"m{i}", seed=i, values=[v], t=i)
    _run(deep, "bad", task="sst2", t=5)
    (f,) = (deep / "bad").rglob("run-bad.wandb")
    _corrupt(f)
    md = _report(deep, tmp_path / "reports")
    line = next(x for x in md.splitlines() if "(run bad)" in x)
    assert "a-rather-long-folder-name" not in line
    assert "corrupt: offline-run-20270101_000000-bad/run-bad.wandb: corrupt chunk at byte " in line
    assert line.endswith("CRC mismatch") or "record" in line, line  # the error itself, not cut


def test_interrupted_run_is_listed_never_averaged(runs, tmp_path):
    """A run stopped by a signal (`status=interrupted`, exit 143) is kept for its resume, never averaged."""
    from bench.results.report import build_table, load_spec
    from bench.results.runs import read_runs

    _run(runs, "i0", sharing="ffn", values=[99.0], exit_code=143, status="interrupted",
         error="interrupted by SIGTERM: resumable", t=30)
    frame = read_runs(runs, errors="mark")
    state = frame.set_index("run_id")["state"]["i0"]
    assert state in ("interrupted", "failed")  # the reader's word for it (interrupted once it knows the state)
    md = _report(runs, tmp_path / "reports")
    assert _table(md)[1][("768", "shared-FFN")]["MNLI"] == state and "99.0" not in md
    assert f"(run i0) [E=768, sharing=shared-FFN]: {state}: interrupted by SIGTERM: resumable" in md
    # with the reader's `interrupted`: counted, listed and shown as such
    frame.loc[frame.run_id == "i0", "state"] = "interrupted"
    table = build_table(load_spec("albert_sharing"), frame)
    notes = "\n".join(table.notes)
    assert "Runs: 11 (6 finished, 2 failed, 1 interrupted, 1 crashed, 1 diverged)" in notes
    assert "(run i0) [E=768, sharing=shared-FFN]: interrupted: interrupted by SIGTERM: resumable" in notes
    assert next(r for r in table.rows if r[1] == "shared-FFN")[table.header.index("MNLI")] == "interrupted"


def test_a_column_reads_another_task_at_a_profile_that_says_so(tmp_path):
    """albert_sharing's RACE column: `race` runs at the paper profile, `race_middle` runs at tiny (its `profiles:`),
    each blind to the other's runs."""
    for profile, (task, other) in {"paper": ("race", "race_middle"), "tiny": ("race_middle", "race")}.items():
        root = tmp_path / profile
        _run(root, "a", task=task, values=[41.0], profile=profile)
        _run(root, "b", task=other, values=[99.0], profile=profile, t=1)
        rows = _table(_report(root, tmp_path / f"out-{profile}", f"profile={profile}"))[1]
        assert rows[("768", "all-shared")]["RACE"] == "41.0 (n=1)", profile


def test_a_profile_change_of_a_column_is_checked(tmp_path):
    (tmp_path / "t.yaml").write_text("title: t\nruns: {group: t}\nrows: [{key: seed, label: seed}]\n"
                    "columns:\n  - {name: R, task: race, metrics: [race/acc], profiles: {tiny: {lr: 1}}}\n")
    with pytest.raises(SpecError, match=r"column 'R': profiles.tiny must set some of \['metrics', 'task'\]"):
        load_spec("t", tmp_path)
    (tmp_path / "t.yaml").write_text("title: t\nruns: {group: t}\nrows: [{key: seed, label: seed}]\n"
                    "columns:\n  - {name: R, task: race, metrics: [race/acc], profiles: {tiyn: {task: race_middle}}}\n")
    with pytest.raises(SpecError, match=r"column 'R': profiles.tiyn: no such profile \(known: paper, released, smoke, "
                                        r"tiny\)"):
        load_spec("t", tmp_path)
