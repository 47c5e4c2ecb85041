"""bench-report publishes each table as one W&B run (job_type=report), read back from the offline run file.

What wandb 0.31 keeps offline (publish.py): the run file's summary holds `table` (`_type: table-file`,
`path` under the run's `files/`, `sha256`, `nrows`, `ncols`) and `figure` (`_type: image-file`, `path`,
`sha256`, `width`, `height`); the table JSON and the PNG themselves lie in `<run dir>/files/<path>`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bench.results.report import REPORT_JOB_TYPE, build_table, load_spec, main, report_run_id
from bench.results.runs import read_runs
from tests.results.report_support import md_rows, md_table


def test_report_run_holds_the_table_and_figure_and_is_never_a_table_run(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    out = tmp_path / "reports"
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}"]) == 0  # publish is the default
    md = (out / "albert_sharing.md").read_text()
    png = (out / "albert_sharing.png").read_bytes()
    wandb_dir = tmp_path / "outputs" / "report"  # the default: outputs/report beside the reports folder
    (run,) = read_runs(wandb_dir).to_dict("records")
    assert run["job_type"] == REPORT_JOB_TYPE == "report" and run["group"] == "albert_sharing"
    assert run["name"] == "report:albert_sharing" and run["state"] == "finished"
    assert run["run_id"] == report_run_id("albert_sharing", md, png)
    assert run["config.report.runs"] == 10 and "m0" in json.loads(run["config.report.run_ids"])

    files = Path(run["run_dir"]) / "files"
    assert run["summary.table._type"] == "table-file" and run["summary.table.nrows"] == 8
    stored = json.loads((files / run["summary.table.path"]).read_text())
    header, rows = md_rows(md)
    assert stored["columns"] == header and stored["data"] == rows
    assert ["768", "all-shared"] + ["0.48M"] in [r[:3] for r in stored["data"]]
    assert "73.3 ± 37.9 (n=3)" in next(r for r in stored["data"] if r[:2] == ["768", "all-shared"])
    assert run["summary.figure._type"] == "image-file"
    assert (files / run["summary.figure.path"]).read_bytes() == png  # the report's PNG, byte for byte
    assert run["summary.figure.sha256"] == hashlib.sha256(png).hexdigest()
    assert run["summary.markdown"] == md
    assert f"wandb sync {run['run_dir']}" in capsys.readouterr().out

    # the same runs again: the same files, so the same run id: nothing new is logged
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}"]) == 0
    assert "already holds this table" in capsys.readouterr().out
    assert len(read_runs(wandb_dir)) == 1 and len(list((wandb_dir / "wandb").glob("offline-run-*"))) == 1

    # read together with the table's own runs, the report run is not one of them (not even without a
    # job_type filter in the spec), so the regenerated report is byte-identical
    frame = read_runs([runs, wandb_dir], errors="mark")
    assert REPORT_JOB_TYPE in set(frame["job_type"])
    spec = load_spec("albert_sharing")
    spec["runs"]["job_type"] = []
    table = build_table(spec, frame)
    assert len(table.runs) == 10 and REPORT_JOB_TYPE not in set(table.runs["job_type"])
    again = tmp_path / "again"
    assert main(["experiment=albert_sharing", f"runs={runs},{wandb_dir}", f"out={again}", "publish=false"]) == 0
    assert (again / "albert_sharing.md").read_text() == md
    assert md_table(md)[1][("768", "all-shared")]["MNLI"] == "73.3 ± 37.9 (n=3)"


def test_publish_false_and_logger_settings(runs, tmp_path, monkeypatch):
    """publish=false writes no W&B run; logger.mode=disabled (the jobs' logger settings) neither; a bad
    value of publish is refused."""
    import pytest

    from bench.results.report import parse_args

    out = tmp_path / "reports"
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}", "publish=false"]) == 0
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}", "logger.mode=disabled",
                 f"wandb_dir={tmp_path / 'wb'}"]) == 0
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "wb").exists()
    opts = parse_args(["experiment=x", "out=a/reports", "logger.project=p"])
    assert opts["publish"] is None  # decided by what is read (main)
    assert opts["wandb_dir"] == str(Path("a/outputs/report")) == str(Path("a/outputs/report"))
    assert opts["logger"] == ["logger.project=p"]
    with pytest.raises(SystemExit, match="publish='maybe'"):
        parse_args(["experiment=x", "publish=maybe"])


def test_a_failed_publish_keeps_the_report_and_exits_1(runs, tmp_path, monkeypatch, capsys):
    import bench.results.report.publish as publish

    def refuse(*args, **kwargs):
        raise RuntimeError("no W&B today")

    monkeypatch.setattr(publish, "publish_table", refuse)
    out = tmp_path / "reports"
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}"]) == 1
    assert "written, but not published to W&B (RuntimeError: no W&B today)" in capsys.readouterr().err
    assert (out / "albert_sharing.md").exists() and (out / "albert_sharing.png").exists()


def test_publishing_defaults_to_what_was_read(runs, tmp_path, monkeypatch):
    """W&B run files read: published; committed run data (`*.runs.jsonl`) alone: not, unless publish=true."""
    import bench.results.report.publish as publish

    published = []
    monkeypatch.setattr(publish, "publish_table", lambda table, *a, **k: published.append(table.spec["name"]) or "ok")
    export = tmp_path / "export"
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={tmp_path / 'a'}", f"export={export}"]) == 0
    assert published == ["albert_sharing"]
    assert main(["experiment=albert_sharing", f"runs={export}", f"out={tmp_path / 'b'}"]) == 0
    assert published == ["albert_sharing"]  # the committed data alone: already published when it was made
    assert main(["experiment=albert_sharing", f"runs={export}", f"out={tmp_path / 'c'}", "publish=true"]) == 0
    assert main(["experiment=albert_sharing", f"runs={export},{runs}", f"out={tmp_path / 'd'}"]) == 0
    assert published == ["albert_sharing"] * 3
