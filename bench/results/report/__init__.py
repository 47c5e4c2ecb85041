"""W&B runs -> one markdown table (+ figure) per paper table, measured beside published.

    bench-report experiment=albert_sharing [runs=multirun,outputs] [out=reports] [online=entity/project] [profile=tiny]
                 [publish=true|false] [wandb_dir=outputs/report] [export=reports/runs] [replace=false]
                 [logger.mode=online ...]
    bench-report all

A report is a spec, not code: `conf/report/<table>.yaml`, whose keys are documented in
conf/report/README.md (with the rules every table keeps). The generator only reads the runs
(`bench.results.runs`), so a report can always be regenerated from W&B alone. A report is replaced
only by a table with readable runs: with no runs, or only corrupt run files, it is left as it was
and the command exits 1 naming the files.

spec.py reads specs and paper CSVs, cells.py and table.py aggregate runs into a Table (means over
seeds with 95% t-intervals: stats.py), claims.py judges the spec's claims and marks cells within
noise, render.py turns it into markdown and the index (with every claim's verdict), figure.py into
a PNG, cli.py parses arguments and writes the files, publish.py logs each written table as one W&B
run (job type `report`: never a table's run).
"""

from bench.io import PAPER_DIR
from bench.results.report.cells import Cell, fmt_params, metric_cell
from bench.results.report.claims import Verdict, judge, judge_all, noise_marks, orderings
from bench.results.report.cli import DEFAULT_RUNS, main, parse_args, write_index, write_report, write_table
from bench.results.report.figure import render_figure
from bench.results.report.publish import publish_table, report_run_id
from bench.results.report.render import read_verdicts, render_index, render_markdown
from bench.results.report.spec import (
    COLUMN_KEYS,
    SPEC_DIR,
    SPEC_KEYS,
    SpecError,
    as_list,
    glue_task_metrics,
    label_tuple,
    load_paper,
    load_spec,
    table_names,
)
from bench.results.report.table import NOT_FINISHED, REPORT_JOB_TYPE, Table, build_table, select_runs, state_counts

__all__ = [
    "COLUMN_KEYS",
    "DEFAULT_RUNS",
    "NOT_FINISHED",
    "PAPER_DIR",
    "REPORT_JOB_TYPE",
    "SPEC_DIR",
    "SPEC_KEYS",
    "Cell",
    "SpecError",
    "Table",
    "Verdict",
    "as_list",
    "build_table",
    "fmt_params",
    "glue_task_metrics",
    "judge",
    "judge_all",
    "label_tuple",
    "load_paper",
    "load_spec",
    "main",
    "metric_cell",
    "noise_marks",
    "orderings",
    "parse_args",
    "publish_table",
    "read_verdicts",
    "render_figure",
    "render_index",
    "render_markdown",
    "report_run_id",
    "select_runs",
    "state_counts",
    "table_names",
    "write_index",
    "write_report",
    "write_table",
]
