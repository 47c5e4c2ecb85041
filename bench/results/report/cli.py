"""`bench-report`: `key=value` arguments, reading the runs, writing each report and the index."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bench.io import atomic_write_bytes, atomic_write_text
from bench.results.report.render import render_figure, render_index, render_markdown
from bench.results.report.spec import SpecError, load_spec, table_names
from bench.results.report.table import build_table
from bench.results.runfile import RunFileError
from bench.results.runs import read_runs

DEFAULT_RUNS = ("multirun", "outputs")


def write_report(spec: dict, runs: pd.DataFrame, out: Path, profile: str | None = None) -> list[Path]:
    """Write `<out>/<table>.md` (+ `.png`); nothing is written when no run belongs to the table."""
    table = build_table(spec, runs, profile)
    if table is None:
        return []
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
                  "online": None, "profile": None}
    for arg in argv:
        if arg in ("all", "--all"):
            opts["experiment"] = "all"
            continue
        key, sep, value = arg.partition("=")
        if not sep or key not in opts:
            raise SystemExit(f"bench-report: unknown argument {arg!r}; use experiment=<table>[,<table>] | all, "
                             f"runs=<dir>[,<dir>], out=<dir>, online=<entity/project>, profile=<name>")
        opts[key] = value
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
        if not roots and not opts["online"]:
            print(f"bench-report: no runs: none of {', '.join(DEFAULT_RUNS)} exists here; pass runs=<dir> or "
                  "online=<entity/project>. Existing reports are left as they are.", file=sys.stderr)
            return 1
    groups = sorted({s["runs"]["group"] for s in specs})
    try:
        runs = read_runs(roots or None, online_path=opts["online"], filters={"group": groups}, errors="mark")
    except (RunFileError, OSError, ValueError) as e:
        print(f"bench-report: cannot read the runs ({e}); existing reports are left as they are.", file=sys.stderr)
        return 1
    out = Path(opts["out"])
    status = 0
    for spec in specs:
        written = write_report(spec, runs, out, opts["profile"])
        if written:
            print("wrote " + ", ".join(str(p) for p in written))
        else:
            print(f"no runs of group {spec['runs']['group']!r}"
                  + (f" at profile {opts['profile']}" if opts["profile"] else "")
                  + f"; {out / (spec['name'] + '.md')} left as it was")
            status = status or (1 if opts["experiment"] != "all" else 0)
    print(f"wrote {write_index(out)}")
    return status
