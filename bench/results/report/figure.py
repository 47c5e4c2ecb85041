"""A Table's figure as PNG bytes: every result table gets one, the same bytes for the same runs.

- One panel per plotted column: the spec's `figure.y` (one or several), else every column but the
  parameter counts (their published units differ from the counts measured).
- Lines when the spec's `figure` names the x axis (`x`, optional `series` and `logx`) or when the
  rows have one numeric label: the measured mean solid, the published value dashed.
- Grouped bars otherwise (categorical rows: models, recipes, settings; the speed table too): per row
  the measured mean beside the published value (hatched).
- Error bars: the 95% t-interval of the mean the table prints (only cells with more than one seed).
- Published values on their own right-hand axis when the two scales lie more than 5x apart (a tiny model's
  perplexity in the hundreds beside the paper's 3.7 would flatten the published bars to nothing).

Agg backend, no version or time in the PNG's metadata, fixed sizes: byte-identical on every run.
"""

from __future__ import annotations

import io
import math
import textwrap

from bench.results.report.cells import as_number
from bench.results.report.table import Table

MEASURED, PAPER = "C0", "C1"
SERIES_COLORS = ["C0", "C1", "C2", "C3", "C4", "C5"]
PANELS_PER_ROW = 3


def figure_columns(table: Table) -> list[str]:
    """The columns plotted, one panel each, that have at least one measured or published number."""
    spec = table.spec
    wanted = (spec.get("figure") or {}).get("y") or [c["name"] for c in spec["columns"] if c["kind"] != "params"]

    def has_value(name: str) -> bool:
        return any(v.get(name) is not None for src in (table.values, table.paper_values) for v in src.values())

    return [name for name in wanted if has_value(name)]


def figure_axis(table: Table) -> str:
    """The row axis of the figure: the spec's `figure.x`, or the row labels."""
    fig = table.spec.get("figure") or {}
    return fig.get("x") or ", ".join(table.labels)


def figure_alt(table: Table) -> str:
    """The markdown image's text: what is plotted against what."""
    return f"{', '.join(figure_columns(table))} vs {figure_axis(table)}"


def _row_text(table: Table, lab: tuple) -> str:
    return ", ".join(lab)


def figure_lines(table: Table) -> bool:
    """Lines (a numeric or spec-given x axis) rather than grouped bars."""
    if table.spec.get("figure"):
        return True
    return len(table.labels) == 1 and all(as_number(lab[0]) is not None for lab in table.values)


def render_figure(table: Table) -> bytes | None:
    """PNG bytes of the table's figure, or None when no plotted column has a number."""
    columns = figure_columns(table)
    if not columns:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = min(PANELS_PER_ROW, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    size = (6, 4) if len(columns) == 1 else (4.2 * ncols, 3.4 * nrows)
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    draw = _lines if figure_lines(table) else _bars
    for ax, name in zip(axes, columns):
        draw(ax, table, name)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3, axis="y" if draw is _bars else "both")
        ax.tick_params(labelsize=7)
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    title = f"{table.spec['title']} — {table.profile or 'unknown'} profile"
    if len(columns) == 1:
        axes[0].set_ylabel(columns[0])
        axes[0].set_title(title, fontsize=9)
    else:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _scales_apart(measured: list, paper: list) -> bool:
    a = [abs(v) for v in measured if v]
    b = [abs(v) for v in paper if v]
    return bool(a and b) and max(max(a) / max(b), max(b) / max(a)) > 5


def twin_columns(table: Table) -> list[str]:
    """The plotted columns whose published values get their own right-hand axis (the caption names them)."""
    return [name for name in figure_columns(table) if _own_axis(table, name)]


def _own_axis(table: Table, name: str) -> bool:
    labs = list(table.values)
    return _scales_apart([table.values[lab].get(name) for lab in labs],
                         [table.paper_values.get(lab, {}).get(name) for lab in labs])


def _paper_axis(ax, table: Table, name: str):
    """The axis the published values go on: `ax`, or a right-hand twin when the scales are far apart."""
    if not _own_axis(table, name):
        return ax
    twin = ax.twinx()
    twin.set_ylabel("paper (right axis)", fontsize=7, color=PAPER)
    twin.tick_params(labelsize=7, colors=PAPER)
    return twin


def _legend(ax, pax) -> None:
    """One legend for both axes, on the one drawn last (a twin is drawn over `ax`, legend included)."""
    handles, labels = ax.get_legend_handles_labels()
    if pax is not ax:
        more = pax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + [f"{t} (right axis)" for t in more[1]]
    pax.legend(handles, labels, fontsize=6)


def _errors(table: Table, name: str, labs: list[tuple], ys: list[float]) -> tuple[list, list, list, list]:
    """(x index, y, down, up) of the points with a 95% interval (several seeds)."""
    out: tuple[list, list, list, list] = ([], [], [], [])
    for i, (lab, y) in enumerate(zip(labs, ys)):
        lo, hi = table.intervals.get(lab, {}).get(name, (None, None))
        if lo is not None and hi is not None:
            for lst, v in zip(out, (i, y, max(y - lo, 0.0), max(hi - y, 0.0))):
                lst.append(v)
    return out


def _lines(ax, table: Table, name: str) -> None:
    """The column against the x row label, one line per `series` value (measured solid, paper dashed)."""
    fig_spec = table.spec.get("figure") or {}
    x_label = fig_spec.get("x") or table.labels[0]
    xi = table.labels.index(x_label)
    si = table.labels.index(fig_spec["series"]) if fig_spec.get("series") else None
    series: dict[str, list[tuple]] = {}
    for lab in table.values:
        series.setdefault(lab[si] if si is not None else "", []).append(lab)
    xs_all = list(dict.fromkeys(lab[xi] for lab in table.values))
    numeric = all(as_number(x) is not None for x in xs_all)
    pos = {x: (float(x) if numeric else i) for i, x in enumerate(xs_all)}
    pax = _paper_axis(ax, table, name)
    for k, (series_name, labs) in enumerate(series.items()):
        labs = sorted(labs, key=lambda lab: pos[lab[xi]])
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        suffix = f", {fig_spec['series']}={series_name}" if si is not None else ""
        for source, style in (("measured", "-o"), ("paper", "--x")):
            vals = table.values if source == "measured" else table.paper_values
            pts = [(lab, pos[lab[xi]], vals[lab][name]) for lab in labs if vals[lab].get(name) is not None]
            if not pts:
                continue
            (ax if source == "measured" else pax).plot([p[1] for p in pts], [p[2] for p in pts], style, color=color,
                                                       label=source + suffix)
            if source == "measured":
                idx, ys, down, up = _errors(table, name, [p[0] for p in pts], [p[2] for p in pts])
                if idx:
                    ax.errorbar([pts[i][1] for i in idx], ys, yerr=[down, up], fmt="none", ecolor=color, capsize=3)
    if numeric and fig_spec.get("logx"):
        ax.set_xscale("log", base=2)
    ax.set_xticks([pos[x] for x in xs_all], labels=xs_all)
    ax.minorticks_off()
    ax.set_xlabel(x_label, fontsize=8)
    _legend(ax, pax)


def _bars(ax, table: Table, name: str) -> None:
    """Grouped bars over the rows: measured (95% interval error bars) beside published (hatched)."""
    labs = list(table.values)
    width = 0.38
    measured = [table.values[lab].get(name) for lab in labs]
    paper = [table.paper_values.get(lab, {}).get(name) for lab in labs]
    has_paper = any(v is not None for v in paper)
    shift = width / 2 if has_paper else 0.0
    pts = [(i, v) for i, v in enumerate(measured) if v is not None]
    if pts:
        ax.bar([i - shift for i, _ in pts], [v for _, v in pts], width, color=MEASURED, label="measured")
        idx, ys, down, up = _errors(table, name, [labs[i] for i, _ in pts], [v for _, v in pts])
        if idx:
            ax.errorbar([pts[i][0] - shift for i in idx], ys, yerr=[down, up], fmt="none", ecolor="black", capsize=3)
    pax = _paper_axis(ax, table, name) if has_paper else ax
    if has_paper:
        pp = [(i, v) for i, v in enumerate(paper) if v is not None]
        pax.bar([i + shift for i, _ in pp], [v for _, v in pp], width, color=PAPER, alpha=0.6, hatch="//",
               edgecolor="white", label="paper")
    ticks = [textwrap.fill(_row_text(table, lab), 16) for lab in labs]
    ax.set_xticks(range(len(labs)), labels=ticks, fontsize=7, rotation=30 if len(labs) > 3 else 0,
                  ha="right" if len(labs) > 3 else "center")
    ax.set_xlim(-0.6, len(labs) - 0.4)
    _legend(ax, pax)
