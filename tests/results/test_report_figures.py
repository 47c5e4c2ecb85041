"""Every result table's figure (bars or lines, error bars over seeds, paper beside) and the report files' mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bench.io import atomic_write_bytes
from bench.results.report import build_table, load_spec, main, render_figure
from bench.results.report.figure import figure_columns, figure_lines
from bench.results.runs import read_runs
from tests.results.report_support import T0
from tests.support.wandb_writer import write_run_file

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _masking_runs(root: Path) -> Path:
    """roberta_masking: static MNLI over three seeds (mean 73.3, 95% interval 35.4-111.3), dynamic MNLI and SST-2 once."""
    cells = [("static", "mnli", s, v) for s, v in enumerate([60.0, 90.0, 70.0])]
    cells += [("dynamic", "mnli", 0, 65.0), ("static", "sst2", 0, 80.0)]
    for i, (masking, task, seed, v) in enumerate(cells):
        key = {"mnli": "mnli/acc_m", "sst2": "sst2/acc"}[task]
        write_run_file(root / f"offline-run-20270101_000000-x{i}", run_id=f"x{i}", group="roberta_masking",
                       job_type="finetune", name=f"finetune:{masking},{task},{seed}",
                       config={"seed": seed, "task": {"name": task}, "objective": {"masking": masking},
                               "profile": {"name": "tiny"}},
                       summary={key: v, "status": "finished", "profile": "tiny"}, start_time=T0 + i)
    return root


def test_accuracy_table_figure_has_error_bars_over_seeds_beside_the_paper(tmp_path):
    table = build_table(load_spec("roberta_masking"), read_runs(_masking_runs(tmp_path / "runs")))
    (lo, hi), = table.intervals[("static",)].values()  # the 95% t-interval the table prints
    assert list(table.intervals[("static",)]) == ["MNLI-m"]
    assert (lo, hi) == pytest.approx((73.3333 - 37.9458, 73.3333 + 37.9458), abs=1e-3)
    assert table.values[("static",)]["MNLI-m"] == pytest.approx(73.3333, abs=1e-3)
    assert table.paper_values[("static",)]["MNLI-m"] == 84.3
    assert figure_columns(table) == ["SQuAD2.0 F1", "MNLI-m", "SST-2"]  # SQuAD: published values only
    assert not figure_lines(table)  # categorical rows: grouped bars
    png = render_figure(table)
    assert png[:8] == PNG_MAGIC and png == render_figure(table)  # the same bytes every time
    assert b"matplotlib" not in png.lower() and b"Software" not in png  # no version, no time
    table.intervals = {}
    assert render_figure(table) != png  # the error bars are drawn


def test_published_values_on_a_far_scale_get_their_own_axis(tmp_path):
    from matplotlib.figure import Figure

    from bench.results.report.figure import _bars

    table = build_table(load_spec("roberta_masking"), read_runs(_masking_runs(tmp_path / "runs")))

    def panel(draw, name):
        fig = Figure()
        ax = fig.subplots()
        draw(ax, table, name)
        return fig, [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]  # on the axis drawn last

    fig, legend = panel(_bars, "MNLI-m")  # measured 65-73 beside the paper's 84: one axis
    assert len(fig.axes) == 1 and legend == ["measured", "paper"]
    table.paper_values = {lab: {"MNLI-m": 3.7} for lab in table.values}  # a perplexity-like published scale
    fig, legend = panel(_bars, "MNLI-m")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "paper (right axis)"
    assert legend == ["measured", "paper (right axis)"]
    assert render_figure(table)[:8] == PNG_MAGIC
    from bench.results.report.figure import twin_columns
    from bench.results.report.render import render_markdown

    assert twin_columns(table) == ["MNLI-m"]
    assert "Published values on their own right-hand axis, the two scales lying more than 5x apart: MNLI-m." in \
        render_markdown(table, "roberta_masking.png")


def test_every_kind_of_table_gets_its_figure(tmp_path):
    speed = load_spec("distilbert_speed")
    cols = [c["name"] for c in speed["columns"] if c["kind"] != "params"]
    write_run_file(tmp_path / "runs" / "offline-run-20270101_000000-sp", run_id="sp", group="distilbert_speed",
                   job_type="speed", config={"seed": 0, "model": {"name": "DistilBERT"}, "profile": {"name": "tiny"}},
                   summary={"speed/total_s_full_pass": 40.0, "speed/median_ms": 20.0, "params/total": 66e6,
                            "status": "finished", "profile": "tiny"}, start_time=T0)
    table = build_table(speed, read_runs(tmp_path / "runs"))
    assert not figure_lines(table) and set(figure_columns(table)) <= set(cols)  # speed: bars, no params panel
    assert "Inference time (s)" in figure_columns(table) and "Params" not in figure_columns(table)
    assert render_figure(table)[:8] == PNG_MAGIC
    depth = load_spec("albert_depth")  # a spec figure: lines over its x axis, its y column
    assert depth["figure"]["y"] == ["Avg"]


def test_numeric_rows_without_a_spec_figure_are_lines(tmp_path):
    (tmp_path / "depth.yaml").write_text(
        "title: t\nruns: {group: g}\nrows: [{key: model.num_layers, label: layers}]\n"
        "columns: [{name: MNLI, task: mnli, metrics: [mnli/acc_m]}, {name: P, params: params/total}]\n")
    for i, (layers, seed, v) in enumerate([(1, 0, 50.0), (1, 1, 60.0), (2, 0, 70.0)]):
        write_run_file(tmp_path / "runs" / f"offline-run-20270101_000000-n{i}", run_id=f"n{i}", group="g",
                       job_type="finetune", config={"seed": seed, "task": {"name": "mnli"}, "model": {"num_layers": layers}},
                       summary={"mnli/acc_m": v, "params/total": 1e6, "status": "finished"}, start_time=T0 + i)
    table = build_table(load_spec("depth", tmp_path), read_runs(tmp_path / "runs"))
    assert figure_lines(table) and figure_columns(table) == ["MNLI"]
    assert table.intervals[("1",)] == {"MNLI": pytest.approx((55.0 - 63.531025, 55.0 + 63.531025))}
    assert render_figure(table)[:8] == PNG_MAGIC
    from matplotlib.figure import Figure

    from bench.results.report.figure import _lines

    table.paper_values = {("1",): {"MNLI": 0.5}, ("2",): {"MNLI": 0.6}}  # 100x apart: the paper's own axis
    fig = Figure()
    ax = fig.subplots()
    _lines(ax, table, "MNLI")
    assert len(fig.axes) == 2 and ax.get_legend() is None
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["measured", "paper (right axis)"]


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_report_files_are_0644(runs, tmp_path, umask):
    out = tmp_path / "reports"
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}", "publish=false"]) == 0
    files = sorted(out.iterdir())
    assert [p.name for p in files] == ["README.md", "albert_sharing.md", "albert_sharing.png"]
    assert {p.name: _mode(p) for p in files} == {p.name: 0o644 for p in files}


def test_atomic_write_respects_the_umask_like_open(tmp_path, umask):
    path = tmp_path / "f.txt"
    path.write_bytes(b"old")
    path.chmod(0o600)  # a file an older writer left private is replaced by a readable one
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o644
    umask(0o077)
    atomic_write_bytes(tmp_path / "g.txt", b"x")
    with open(tmp_path / "h.txt", "wb"):
        pass
    assert _mode(tmp_path / "g.txt") == _mode(tmp_path / "h.txt") == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
