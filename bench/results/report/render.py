"""A Table as markdown (its figure: figure.py), and the reports index; text only, no files written."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from bench.io import CONF_DIR, PAPER_DIR
from bench.results.report.claims import BEST, UNRESOLVED, WITHIN
from bench.results.report.figure import figure_alt, figure_lines, twin_columns
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
    if tiny and _timing(spec):
        caption.append("The tiny profile times the full-size models on this machine's CPU, over fewer pairs than "
                       "the paper: the seconds are not comparable with the paper's, their ratio between rows is; the "
                       "parameter counts are exact.")
    elif tiny:
        caption.append("The tiny profile trains small models on synthetic data on CPU: absolute values are not "
                       "comparable with the paper's, only the comparison between rows is.")
    if spec.get("caption"):
        caption.append(" ".join(str(spec["caption"]).split()))
    if any(c.get("combine") == "glue" for c in spec["columns"]):
        from lightning_modules.metrics.glue import GLUE_SCORE_CONVENTION  # lazy: it loads torch

        caption.append(GLUE_SCORE_CONVENTION)
    caption.append("Each measured cell is the mean over seeds (the newest finished run of each seed) ± the "
                   "half-width of its 95% t-interval (Student t, n − 1 df; several metrics `a/b`: each a mean, the "
                   "interval that of the first), and n, the number of seeds; one seed shows its value and n=1, no "
                   "interval. `*` marks a cell with a seed that has no finished run. A cell whose runs all failed, were interrupted, crashed, diverged or could not be read shows "
                   "that state; `missing` = no run; `n/a` = a derived value with an input that is not a number; "
                   "`—` = published only.")
    if not spec.get("paper"):
        caption.append("Published columns are empty: " + " ".join(str(spec.get("paper_note") or
                                                                       "the paper gives no numbers for this table.").split()))
    lines = [f"# {title}", "", *_verdict_lines(table), " ".join(caption), "", md_row(table.header),
             md_row(["---"] * len(table.header))]
    lines += [md_row(r) for r in table.rows]
    lines.append("")
    if table.marks:
        lines += [f"Marks, per column against its best row (`{BEST}`: highest, or lowest where lower is better): "
                  f"`{WITHIN}` = the difference from the best row is within noise (Welch's t-test, 95%: not "
                  f"significant); `{UNRESOLVED}` = not resolved (this row or the best has fewer than two seeds); "
                  "no mark = significantly worse than the best.", ""]
    if figure_name:
        lines += [f"![{figure_alt(table)}]({figure_name})", "",
                  "Figure: each measured value (the mean over seeds; error bars: its 95% t-interval when there "
                  "is more than one seed) beside the published one where the paper gives it "
                  + ("(dashed)." if figure_lines(table) else "(hatched).")
                  + (f" Published values on their own right-hand axis, the two scales lying more than 5x apart: "
                     f"{', '.join(twin)}." if (twin := twin_columns(table)) else ""), ""]
    if spec.get("example"):
        lines += _example(spec)
    lines.append("\n\n".join(["**Notes.** " + table.notes[0], *table.notes[1:]]))
    return "\n".join(lines) + "\n"


CLAIMS_HEAD = "**Claims of the paper**"


def _timing(spec: dict) -> bool:
    """A table of timing jobs only: at tiny it times full-size models, it trains nothing."""
    return set(spec["runs"].get("job_type", [])) == {"speed"}


_VERDICT = re.compile(r"^- \*\*(reproduced|contradicted|not resolved at [^*]+)\*\*: (.+?) — (.*)$")


def _verdict_lines(table: Table) -> list[str]:
    """The block above the caption: one line per claim, then the row order against the paper's."""
    out = []
    if table.verdicts:
        out += [f"{CLAIMS_HEAD}, checked on these runs ({table.profile or 'unknown'} profile: "
                + (("full-size models with random weights timed on this CPU" if _timing(table.spec) else
                    "tiny models trained on synthetic data")
                   + ", so a verdict says whether the rows here behave as the claim says, not whether the paper is "
                   "right" if table.profile == "tiny" else
                   "a verdict says whether these runs behave as the claim says")
                + "; tests: Welch 95% intervals between rows, a claim of k comparisons contradicted only at "
                  "1 − 0.05/k, see conf/report/README.md):", ""]
        out += [f"- **{v.verdict}**: {v.text} — {v.evidence}" for v in table.verdicts]
        out.append("")
    if table.orderings:
        out += ["**Row order against the paper's**, per column: " + "; ".join(table.orderings) + ".", ""]
    return out


def read_verdicts(md: str) -> dict[str, tuple[str, str]]:
    """{claim text: (verdict, evidence)} from a report's claim lines (the index gathers them)."""
    found = {}
    for line in md.split("\n| ", 1)[0].splitlines():  # only above the table
        if m := _VERDICT.match(line):
            found[m.group(2)] = (m.group(1), m.group(3))
    return found


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
    backends = out / "inference_backends.md"
    figure = ", [inference_backends.png](inference_backends.png)" if (out / "inference_backends.png").exists() else ""
    lines.append(md_row([f"[inference_backends.md](inference_backends.md){figure}" if backends.exists()
                         else "inference_backends.md (not generated yet)",
                         "Inference time of every mode and backend, the suite vs ONNX Runtime",
                         "written by `python -m bench.benchmarks.inference_backends`"]))
    verdicts = []
    for name in table_names():
        spec = yaml.safe_load((SPEC_DIR / f"{name}.yaml").read_text()) or {}
        md = out / f"{name}.md"
        link = f"[{name}.md]({name}.md)" if md.exists() else f"{name}.md (not generated yet)"
        if (out / f"{name}.png").exists() and md.exists():
            link += f", [{name}.png]({name}.png)"
        lines.append(md_row([link, spec.get("title", name), spec.get("source", "")]))
        found = read_verdicts(md.read_text()) if md.exists() else {}
        for claim in spec.get("claims") or []:
            text = " ".join(str(claim.get("text", "")).split()) if isinstance(claim, dict) else str(claim)
            verdict, evidence = found.get(text, ("no verdict yet", "the report predates this claim: regenerate it"
                                                 if md.exists() else "no report yet"))
            verdicts.append(md_row([f"[{name}]({name}.md)" if md.exists() else name, text, verdict, evidence]))
    lines += ["", "## Verdicts", "",
              "Every claim of every table (`claims:` in `conf/report/<table>.yaml`), as its report judged it on its "
              "runs: `reproduced` (every comparison's 95% Welch interval on the claimed side), `contradicted` (one of "
              "its k on the other side at 1 − 0.05/k), or `not resolved at <profile>` (the intervals do not "
              "settle it, too few seeds, or cells missing: the evidence says which). At the tiny "
              "profile the models are tiny and the data synthetic (the timing table: full-size models with random "
              "weights): a verdict says whether the rows behave as the paper's claim says, not whether the paper "
              "is right.", "",
              "| table | claim | verdict | evidence |", "| --- | --- | --- | --- |", *verdicts]
    return "\n".join(lines) + "\n"
