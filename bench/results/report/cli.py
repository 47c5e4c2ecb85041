"""`bench-report`: `key=value` arguments, reading the runs, writing each report and the index.

A report is only ever replaced by a table of readable runs: with no runs, runs that cannot be read
at all, or a table whose every run file is corrupt, the existing `<table>.md` / `.png` stay byte for
byte and the command exits 1 naming the files. Per table one console line counts its runs by state.
Each written table is then published as its own W&B run (publish.py) under `wandb_dir=` (default
`<out>/../outputs/report`: `outputs/report` beside `reports/`), with the jobs' logger settings and any
`logger.<key>=<value>` overrides (`logger.mode=online`). `publish` defaults to true when W&B run files or
online runs are read, to false when only committed run data (`*.runs.jsonl`) is: those tables were published
when their runs were made. `publish=true|false` decides it.

With no `runs=` and neither `multirun/` nor `outputs/` here (a fresh clone), it reads the committed run data
in `<out>/runs`: `bench-report experiment=all` on a fresh clone rebuilds every committed table.

`export=<dir>` also writes each table's runs as `<dir>/<group>.runs.jsonl` (bench/results/export.py), the
committed run data that `runs=<dir>` reads back. A table is never replaced by a thinner one: where the
committed run data (`export=<dir>`, else `<out>/runs`) already holds runs of the table with more seeds or more
finished runs than the new ones, the report and its runs stay (`replace=true` overrides): a one-seed demo in
`multirun/` does not overwrite a committed 3-seed table.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bench.io import atomic_write_bytes, atomic_write_text
from bench.results.export import SUFFIX, read_exports, split_roots, write_export
from bench.results.report.figure import render_figure
from bench.results.report.render import render_index, render_markdown
from bench.results.report.spec import SpecError, load_spec, run_groups, table_names
from bench.results.report.table import Table, build_table, state_counts
from bench.results.runfile import RunFileError
from bench.results.runs import read_runs

DEFAULT_RUNS = ("multirun", "outputs")
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def write_report(spec: dict, runs: pd.DataFrame, out: Path, profile: str | None = None) -> list[Path]:
    """Write `<out>/<table>.md` (+ `.png`); nothing is written when no run belongs to the table or
    when every one of them is unreadable."""
    table = build_table(spec, runs, profile)
    if table is None or table.unreadable:
        return []
    return write_table(table, out)


def write_table(table: Table, out: Path) -> list[Path]:
    spec = table.spec
    png = render_figure(table)
    fig_name = f"{spec['name']}.png" if png else None
    written = []
    if png:
        written.append(atomic_write_bytes(out / fig_name, png))
    written.append(atomic_write_text(out / f"{spec['name']}.md", render_markdown(table, fig_name)))
    return written


def write_index(out: Path) -> Path:
    return atomic_write_text(out / "README.md", render_index(out))


def parse_args(argv: Sequence[str]) -> dict:
    """`key=value` arguments (Hydra-style) and the word `all`; unknown keys are errors."""
    opts: dict = {"experiment": None, "runs": None, "out": os.environ.get("BENCH_REPORTS_DIR", "reports"),
                  "online": None, "profile": None, "publish": None, "wandb_dir": None, "logger": [],
                  "export": None, "replace": "false"}
    for arg in argv:
        if arg in ("all", "--all"):
            opts["experiment"] = "all"
            continue
        key, sep, value = arg.partition("=")
        if sep and key.startswith("logger.") and key.count(".") == 1:
            opts["logger"].append(arg)
            continue
        if not sep or key not in opts or key == "logger":
            raise SystemExit(f"bench-report: unknown argument {arg!r}; use experiment=<table>[,<table>] | all, "
                             f"runs=<dir>[,<dir>], out=<dir>, online=<entity/project>, profile=<name>, "
                             f"publish=true|false, wandb_dir=<dir>, export=<dir>, replace=true|false, "
                             f"logger.<key>=<value>")
        opts[key] = value
    for key in ("publish", "replace"):
        if key == "publish" and opts[key] is None:
            continue  # decided by what is read (main)
        if opts[key].lower() not in TRUE + FALSE:
            raise SystemExit(f"bench-report: {key}={opts[key]!r}: use {key}=true or {key}=false")
        opts[key] = opts[key].lower() in TRUE
    if opts["wandb_dir"] is None:
        opts["wandb_dir"] = str(Path(opts["out"]).parent / "outputs" / "report")
    if not opts["experiment"]:
        raise SystemExit(f"bench-report: say which table: experiment=<name> or all (tables: {', '.join(table_names())})")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    names = table_names() if opts["experiment"] == "all" else opts["experiment"].split(",")
    try:
        specs = [load_spec(n) for n in names]
    except SpecError as e:
        print(f"bench-report: {e}", file=sys.stderr)
        return 1
    roots = [r for r in (opts["runs"] or "").split(",") if r]
    if not roots:
        roots = [r for r in DEFAULT_RUNS if Path(r).exists()]
        committed = Path(opts["out"]) / "runs"
        if not roots and not opts["online"] and committed.is_dir():
            roots = [str(committed)]
            print(f"reading the committed run data in {committed} (no {' or '.join(DEFAULT_RUNS)} here)")
        if not roots and not opts["online"]:
            print(f"bench-report: no runs: none of {', '.join(DEFAULT_RUNS)}, {committed} exists here; pass "
                  "runs=<dir> or online=<entity/project>. Existing reports are left as they are.", file=sys.stderr)
            return 1
    groups = sorted({g for s in specs for g in run_groups(s)})
    exports, roots = split_roots(roots)
    if opts["publish"] is None:  # W&B runs read: publish their tables; committed run data alone: already published
        opts["publish"] = bool(roots or opts["online"])
    try:
        runs = read_runs(roots or None, online_path=opts["online"], filters={"group": groups}, errors="mark")
        if exports:
            exported = read_exports(exports)
            exported = exported[exported["group"].isin(groups)]
            # a run another table also reads (`runs.also_from`) is in both tables' files: read it once
            exported = exported.drop_duplicates(subset=[c for c in ("group", "run_id", "start_time") if c in exported])
            runs = exported if runs.empty else pd.concat([runs, exported], ignore_index=True)
    except (RunFileError, OSError, ValueError) as e:
        print(f"bench-report: cannot read the runs ({e}); existing reports are left as they are.", file=sys.stderr)
        return 1
    out = Path(opts["out"])
    # corrupt files whose group is unknown: any table without readable runs may be all-corrupt
    lost = runs[runs["group"].isna() & (runs["state"] == "corrupt")] if len(runs) else runs
    if len(lost):
        print(f"bench-report: {len(lost)} run file(s) could not be read, nor their group (they may belong to any "
              f"table): {_files(lost)}", file=sys.stderr)
    status = 0
    for spec in specs:
        table = build_table(spec, runs, opts["profile"])
        kept = _kept(spec["name"], out)
        if table is None:
            print(f"{spec['name']}: no runs of group {spec['runs']['group']!r}"
                  + (f" at profile {opts['profile']}" if opts["profile"] else "")
                  + (f" among the readable ones ({len(lost)} unreadable, named above)" if len(lost) else "")
                  + f"; {kept}")
            status = status or (1 if opts["experiment"] != "all" or len(lost) else 0)
        elif table.unreadable:
            print(f"bench-report: {_name(table)}: {_count(table)}: every run file is unreadable, so the report is not "
                  f"replaced ({kept}). Unreadable: {_files(table.runs)}", file=sys.stderr)
            status = 1
        elif (thicker := _thicker_export(table, opts)) is not None:
            print(f"{_name(table)}: {_count(table)}, fewer than the {thicker} already in {_committed(opts)}: "
                  f"{kept} (replace=true replaces them)")
        else:
            written = write_table(table, out)
            if opts["export"]:
                written.append(write_export(table.runs, Path(opts["export"]), table.spec["runs"]["group"]))
            print(f"{_name(table)}: {_count(table)} -> {', '.join(str(p) for p in written)}")
            if opts["publish"]:
                status = _publish(table, written, opts) or status
    print(f"wrote {write_index(out)}")
    return status


def _seeds_and_finished(runs: pd.DataFrame) -> tuple[int, int]:
    done = runs[runs["state"] == "finished"]
    seeds = done["config.seed"].dropna().astype(str).nunique() if "config.seed" in done else 0
    return seeds, len(done)


def _committed(opts: dict) -> Path:
    """Where the committed run data of the reports in `out` lives: `export=`, else `<out>/runs`."""
    return Path(opts["export"]) if opts["export"] else Path(opts["out"]) / "runs"


def _thicker_export(table: Table, opts: dict) -> str | None:
    """What the committed run data already holds for this table when it has more seeds or finished runs than
    the new table (which is then not written), else None."""
    path = _committed(opts) / f"{table.spec['runs']['group']}{SUFFIX}"
    if opts["replace"] or not path.exists():
        return None
    old = read_exports([path])
    old = old[old["job_type"].isin(table.runs["job_type"].dropna().unique())] if len(old) else old
    (old_seeds, old_done), (seeds, done) = _seeds_and_finished(old), _seeds_and_finished(table.runs)
    if seeds >= old_seeds and done >= old_done:
        return None
    return f"{old_done} finished runs over {old_seeds} seeds"


def _publish(table: Table, written: list[Path], opts: dict) -> int:
    """Log the written table as its W&B run; a failure is reported (exit 1), the report files stay."""
    from bench.results.report.publish import publish_table  # lazy: W&B and Hydra only when publishing

    md = next(p for p in written if p.suffix == ".md")
    png = next((p for p in written if p.suffix == ".png"), None)
    try:
        print(f"{table.spec['name']}: " + publish_table(table, md.read_text(), png, Path(opts["wandb_dir"]),
                                                         opts["logger"]))
    except Exception as e:  # noqa: BLE001 - W&B raises many kinds (no key, no network, bad settings)
        print(f"bench-report: {table.spec['name']}: written, but not published to W&B ({type(e).__name__}: {e}); "
              "publish=false skips publishing", file=sys.stderr)
        return 1
    return 0


def _count(table: Table) -> str:
    """`6 runs: 5 finished, 1 corrupt (skipped)`: the table's runs at its profile, by state."""
    n = len(table.runs)
    return f"{n} run{'s' if n != 1 else ''}: " + state_counts(table.runs["state"]).replace(" corrupt", " corrupt (skipped)")


def _name(table: Table) -> str:
    return table.spec["name"] + (f" ({table.profile})" if table.profile else "")


def _kept(name: str, out: Path) -> str:
    files = [str(p) for p in (out / f"{name}.md", out / f"{name}.png") if p.exists()]
    if not files:
        return f"no {out / name}.md written"
    return ", ".join(files) + (" left as they were" if len(files) > 1 else " left as it was")


def _files(frame: pd.DataFrame) -> str:
    return ", ".join(str(f) for f in frame["file"] if isinstance(f, str) and f) or "(no file: online runs)"
