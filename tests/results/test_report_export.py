"""Committed run data: `export=<dir>` writes a table's runs as JSON lines, `runs=<dir>` reads them back into the
same report byte for byte, a thinner set of runs never replaces a committed table, and every committed
report regenerates from the committed run data on this clone without running a job."""

from __future__ import annotations

import re
import shutil

import pytest

from bench.io import REPO_ROOT
from bench.results.export import SUFFIX, read_exports
from bench.results.report import main
from bench.results.report.spec import load_spec, table_names
from tests.results.report_support import md_table, write_finetune_run

REPORTS = REPO_ROOT / "reports"
RUNS = REPORTS / "runs"


def test_exported_runs_rebuild_the_same_report(runs, tmp_path):
    first, export = tmp_path / "first", tmp_path / "export"
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={first}", f"export={export}", "publish=false"]) == 0
    data = export / f"albert_sharing{SUFFIX}"
    assert data.exists()
    assert str(tmp_path) not in data.read_text()  # no path of this machine is committed
    frame = read_exports([data])
    assert len(frame) == 10 and set(frame["state"]) >= {"finished", "failed", "crashed", "diverged"}

    again = tmp_path / "again"
    assert main(["experiment=albert_sharing", f"runs={export}", f"out={again}", "publish=false"]) == 0
    assert (again / "albert_sharing.md").read_bytes() == (first / "albert_sharing.md").read_bytes()
    assert (again / "albert_sharing.png").exists()


def test_a_thinner_set_of_runs_never_replaces_the_committed_table(runs, tmp_path, capsys):
    out, export = tmp_path / "reports", tmp_path / "export"
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}", f"export={export}", "publish=false"]) == 0
    md, data = (out / "albert_sharing.md").read_bytes(), (export / f"albert_sharing{SUFFIX}").read_bytes()
    fewer = tmp_path / "fewer"
    write_finetune_run(fewer, "new0", values=[55.0], t=100)  # one seed, one run: a quick demo's sweep
    capsys.readouterr()
    assert main(["experiment=albert_sharing", f"runs={fewer}", f"out={out}", f"export={export}", "publish=false"]) == 0
    said = capsys.readouterr().out
    assert "fewer than the 6 finished runs over 3 seeds already in" in said and "left as they were" in said
    assert (out / "albert_sharing.md").read_bytes() == md
    assert (export / f"albert_sharing{SUFFIX}").read_bytes() == data
    assert main(["experiment=albert_sharing", f"runs={fewer}", f"out={out}", f"export={export}", "publish=false",
                 "replace=true"]) == 0
    assert (out / "albert_sharing.md").read_bytes() != md


def test_without_export_the_committed_run_data_beside_the_reports_still_guards_them(runs, tmp_path, capsys):
    """A one-seed demo in multirun/ never overwrites the committed 3-seed table: `<out>/runs` is the reference."""
    out = tmp_path / "reports"
    assert main(["experiment=albert_sharing", f"runs={runs}", f"out={out}", f"export={out / 'runs'}",
                 "publish=false"]) == 0
    committed = (out / "albert_sharing.md").read_bytes()
    fewer = tmp_path / "fewer"
    write_finetune_run(fewer, "new0", values=[55.0], t=100)
    capsys.readouterr()
    assert main(["experiment=albert_sharing", f"runs={fewer}", f"out={out}", "publish=false"]) == 0
    assert f"fewer than the 6 finished runs over 3 seeds already in {out / 'runs'}" in capsys.readouterr().out
    assert (out / "albert_sharing.md").read_bytes() == committed
    assert main(["experiment=albert_sharing", f"runs={fewer}", f"out={out}", "publish=false", "replace=true"]) == 0
    assert (out / "albert_sharing.md").read_bytes() != committed


def test_a_damaged_export_line_is_named(tmp_path):
    bad = tmp_path / f"albert_sharing{SUFFIX}"
    bad.write_text('{"run_id": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=f"{bad}:2: not a JSON record"):
        read_exports([bad])


def committed_tables() -> list[str]:
    """The committed reports that come from runs (the census and the index do not)."""
    return [n for n in table_names() if (REPORTS / f"{n}.md").exists()]


def test_every_committed_table_has_its_run_data():
    missing = [n for n in committed_tables() if not (RUNS / f"{load_spec(n)['runs']['group']}{SUFFIX}").exists()]
    assert not missing, f"committed reports without their runs in {RUNS}: {missing}"


# committed while `make tables` still runs them (the next sitting completes them); remove a name when it is whole
PARTIAL: dict[str, str] = {}


@pytest.mark.parametrize("name", committed_tables())
def test_a_committed_table_shows_every_seed_of_its_sweep_its_claims_and_its_figure(name):
    """What the tables issue asks of each committed report: the seeds its experiment sweeps at the report's
    profile (at least 3; distilbert_glue 5), one verdict line per claim of its spec, and its figure."""
    from bench.config.compose import sweep_params
    from bench.results.report import read_verdicts

    spec = load_spec(name)
    runs = read_exports([RUNS / f"{spec['runs']['group']}{SUFFIX}"])
    assert runs["config.profile.name"].nunique() == 1, f"{name}: runs of several profiles"
    profile = runs["config.profile.name"].iloc[0]
    swept = sweep_params(name, profile).get("seed", "0").split(",")
    seeds = sorted(runs.loc[runs["state"] == "finished", "config.seed"].astype(int).astype(str).unique(), key=int)
    assert seeds == swept and len(seeds) >= (5 if name == "distilbert_glue" else 3), f"{name}: seeds {seeds}"
    md = (REPORTS / f"{name}.md").read_text()
    assert f"Seeds: {', '.join(seeds)} ({len(seeds)})" in md
    if name not in PARTIAL:  # every measured cell over every seed: none missing, failed or thinner
        table = md[md.index("\n| "):md.index("\n\n", md.index("\n| "))]
        assert set(re.findall(r"\(n=(\d+)\)", table)) == {str(len(seeds))}, f"{name}: cells with fewer seeds"
        assert not re.search(r"\| (missing|failed|interrupted|crashed|diverged|n/a)\b|\*", table), name
    assert set(read_verdicts(md)) == {" ".join(c["text"].split()) for c in spec.get("claims", [])}
    assert f"]({name}.png)" in md and (REPORTS / f"{name}.png").exists()


def test_the_committed_run_data_stays_small():
    size = sum(p.stat().st_size for p in RUNS.glob(f"*{SUFFIX}"))
    assert size < 20e6, f"{RUNS}: {size / 1e6:.1f} MB of run data; the repository should grow by tens of MB at most"


# The matplotlib that drew the committed figures: under another version their bytes may differ (fonts, PNG
# encoder), so only their pixel size is compared then. The markdown is compared byte for byte always.
FIGURES_MATPLOTLIB = "3.11.2"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_committed_reports_regenerate_byte_identically_from_the_committed_runs(tmp_path, monkeypatch, capsys):
    """`bench-report experiment=all`, exactly, in a copy of the clone's reports with no multirun/ or outputs/:
    it reads the committed run data, runs no job, publishes nothing, and writes the same files."""
    import matplotlib

    shutil.copytree(REPORTS, tmp_path / "reports")
    for name in committed_tables():
        for suffix in (".md", ".png"):
            (tmp_path / "reports" / f"{name}{suffix}").unlink(missing_ok=True)
    (tmp_path / "reports" / "README.md").unlink()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BENCH_REPORTS_DIR", raising=False)
    assert main(["experiment=all"]) == 0
    assert "reading the committed run data in reports/runs" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]  # no outputs/ (W&B), no multirun/
    out = tmp_path / "reports"
    for name in committed_tables() + ["README"]:
        assert (out / f"{name}.md").read_bytes() == (REPORTS / f"{name}.md").read_bytes(), name
    assert sorted(p.name for p in out.glob("*.md")) == sorted(p.name for p in REPORTS.glob("*.md"))
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in REPORTS.glob("*.png"))
    for png in REPORTS.glob("*.png"):
        new, committed = (out / png.name).read_bytes(), png.read_bytes()
        if matplotlib.__version__ == FIGURES_MATPLOTLIB:
            assert new == committed, png.name
        else:
            assert png_size(new) == png_size(committed), png.name


def test_with_no_runs_at_all_nothing_is_written_and_the_error_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BENCH_REPORTS_DIR", raising=False)
    assert main(["experiment=all"]) == 1
    assert "none of multirun, outputs, reports/runs exists here" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_table_counts_the_runs_of_the_cells_it_shares_with_another_experiment(tmp_path):
    """albert_sharing's not-shared / all-shared cells at E=768/128 are albert_embedding_size's jobs (`also_from`):
    their runs count in both tables, the other E values do not, and both tables' exports read each run once."""
    root = tmp_path / "multirun"
    for seed in range(3):
        write_finetune_run(root, f"own{seed}", sharing="attention", seed=seed, values=[60.0 + seed], t=seed)
        write_finetune_run(root, f"emb{seed}", sharing="none", seed=seed, values=[70.0 + seed], t=10 + seed,
                           group="albert_embedding_size")
        write_finetune_run(root, f"e64_{seed}", E=64, sharing="none", seed=seed, values=[30.0], t=20 + seed,
                           group="albert_embedding_size")
    out, export = tmp_path / "reports", tmp_path / "export"
    assert main(["experiment=albert_sharing,albert_embedding_size", f"runs={root}", f"out={out}", f"export={export}",
                 "publish=false"]) == 0
    md = (out / "albert_sharing.md").read_text()
    rows = md_table(md)[1]
    assert rows[("768", "not-shared")]["MNLI"].startswith("▲ 71.0 ± 2.5 (n=3)")
    assert rows[("768", "shared-attention")]["MNLI"].startswith("61.0 ± 2.5 (n=3)")
    assert not any(label[0] == "64" for label in rows)
    assert "Runs: 6 (6 finished; 3 of them albert_embedding_size's: the same jobs" in md
    assert len(read_exports([export / f"albert_sharing{SUFFIX}"])) == 6
    alone = tmp_path / "alone"  # albert_embedding_size's runs alone make no albert_sharing table
    assert main(["experiment=all", f"runs={export / f'albert_embedding_size{SUFFIX}'}", f"out={alone}",
                 "publish=false"]) == 0
    assert (alone / "albert_embedding_size.md").exists() and not (alone / "albert_sharing.md").exists()
    again = tmp_path / "again"
    assert main(["experiment=albert_sharing", f"runs={export}", f"out={again}", "publish=false"]) == 0
    assert (again / "albert_sharing.md").read_bytes() == (out / "albert_sharing.md").read_bytes()
