"""A Table as markdown (its figure: figure.py), and the reports index; text only, no files written."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from bench.io import CONF_DIR, PAPER_DIR
from bench.results.report.figure import figure_alt, figure_lines
from bench.results.report.spec import SPEC_DIR, table_names
from bench.results.report.table import Table


def md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def render_markdown(table: Table, figure_name: str | None = None) -> str:
    spec = table.spec
    tiny = table.profile == "tiny"
    title = spec["title"] + (f" — {table.profile} profile" if table.profile else "")
    caption = [
        f"Measured at the **{table.profile or 'unknown'}** profile beside the published numbers"
        + (f" of {spec['source']}." if spec.get("source") else "."),
    ]
    if tiny:
        caption.append("The tiny profile trains small models on synthetic data on CPU: absolute values are not "
                       "comparable with the paper's, only the comparison between rows is.")
    if spec.get("caption"):
        caption.append(" ".join(str(spec["caption"]).split()))
    if any(c.get("combine") == "glue" for c in spec["columns"]):
        from lightning_modules.metrics.glue import GLUE_SCORE_CONVENTION  # lazy: it loads torch

        caption.append(GLUE_SCORE_CONVENTION)
    caption.append("Each measured cell is the median over seeds (the newest finished run of each seed), with "
                   "(min–max) when there is more than one seed; `*` marks a cell with a seed that has no finished "
                   "run. A cell whose runs all failed, were interrupted, crashed, diverged or could not be read shows "
                   "that state; `missing` = no run; `n/a` = a derived value with an input that is not a number; "
                   "`—` = published only.")
    if not spec.get("paper"):
        caption.append("Published columns are empty: " + " ".join(str(spec.get("paper_note") or
                                                                       "the paper gives no numbers for this table.").split()))
    lines = [f"# {title}", "", " ".join(caption), "", md_row(table.header),
             md_row(["---"] * len(table.header))]
    lines += [md_row(r) for r in table.rows]
    lines.append("")
    if figure_name:
        lines += [f"![{figure_alt(table)}]({figure_name})", "",
                  "Figure: each measured value (the median over seeds; error bars: min–max over seeds when there "
                  "is more than one) beside the published one where the paper gives it "
                  + ("(dashed)." if figure_lines(table) else "(hatched)."), ""]
    if spec.get("example"):
        lines += _example(spec)
    lines.append("\n\n".join(["**Notes.** " + table.notes[0], *table.notes[1:]]))
    return "\n".join(lines) + "\n"


def _example(spec: dict) -> list[str]:
    ex = spec["example"]
    path = PAPER_DIR / ex["csv"]
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = [f"{ex.get('title', 'The paper’s example')} (`{path.relative_to(CONF_DIR.parent)}`):", "",
           md_row(df.columns), md_row(["---"] * len(df.columns))]
    out += [md_row(r) for r in df.itertuples(index=False)]
    return out + [""]


def render_index(out: Path) -> str:
    """`reports/README.md`: every report, generated (in `out`) or not, with bench-census's parameters.md."""
    lines = ["# Reports", "",
             "Regenerated from the W&B runs alone by `bench-report` (one table per paper table, see "
             "`conf/report/`) and by `bench-census` (parameter counts). Each report states the profile, seeds, "
             "runs and date that produced it.", "",
             "| report | what it shows | source |", "| --- | --- | --- |"]
    census = out / "parameters.md"
    lines.append(md_row(["[parameters.md](parameters.md)" if census.exists() else "parameters.md (not generated yet)",
                         "Parameters, counted exactly: every model config and paper row", "written by `bench-census`"]))
    for name in table_names():
        spec = yaml.safe_load((SPEC_DIR / f"{name}.yaml").read_text()) or {}
        md = out / f"{name}.md"
        link = f"[{name}.md]({name}.md)" if md.exists() else f"{name}.md (not generated yet)"
        if (out / f"{name}.png").exists() and md.exists():
            link += f", [{name}.png]({name}.png)"
        lines.append(md_row([link, spec.get("title", name), spec.get("source", "")]))
    return "\n".join(lines) + "\n"
