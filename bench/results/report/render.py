"""A Table as markdown and as a PNG figure, and the reports index; text and bytes only, no files written."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from bench.io import CONF_DIR, PAPER_DIR
from bench.results.report.cells import as_number
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
        lines += [f"![{spec['figure']['y']} vs {spec['figure']['x']}]({figure_name})", ""]
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


def render_figure(table: Table) -> bytes | None:
    """The spec's figure (measured solid, paper dashed) as PNG bytes that are the same on every run."""
    fig_spec = table.spec.get("figure")
    if not fig_spec:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xi = table.labels.index(fig_spec["x"])
    si = table.labels.index(fig_spec["series"]) if fig_spec.get("series") else None
    y = fig_spec["y"]
    series: dict[str, list[tuple]] = {}
    for lab in table.values:
        series.setdefault(lab[si] if si is not None else "", []).append(lab)
    xs_all = list(dict.fromkeys(lab[xi] for lab in table.values))
    numeric = all(as_number(x) is not None for x in xs_all)
    pos = {x: (float(x) if numeric else i) for i, x in enumerate(xs_all)}

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = ["C0", "C1", "C2", "C3", "C4", "C5"]
    plotted = False
    for k, (name, labs) in enumerate(series.items()):
        labs = sorted(labs, key=lambda lab: pos[lab[xi]])
        for source, style in (("measured", "-o"), ("paper", "--x")):
            vals = table.values if source == "measured" else table.paper_values
            pts = [(pos[lab[xi]], vals[lab].get(y)) for lab in labs if vals[lab].get(y) is not None]
            if pts:
                plotted = True
                label = f"{source}" + (f", {fig_spec['series']}={name}" if si is not None else "")
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colors[k % len(colors)], label=label)
    if not plotted:
        return None
    if numeric and fig_spec.get("logx"):
        ax.set_xscale("log", base=2)
    ax.set_xticks([pos[x] for x in xs_all], labels=xs_all)
    ax.minorticks_off()
    ax.set_xlabel(fig_spec["x"])
    ax.set_ylabel(y)
    ax.set_title(f"{table.spec['title']} — {table.profile} profile", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


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
