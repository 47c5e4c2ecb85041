"""bench-report's own W&B run: one per regenerated table, so the project shows each paper table beside its runs.

The run: `job_type=report`, `group` = the table's experiment group, `name=report:<table>`, project,
entity, mode and tags from the jobs' logger settings (`conf/logger/wandb.yaml`, composed with any
`logger.<key>=` overrides): offline by default, synced like every run (`wandb sync <dir>`). It holds
- `table`: a `wandb.Table`, the markdown table's header and rows as printed (text);
- `figure`: a `wandb.Image` of the report's PNG (the file itself, byte for byte);
- `markdown`: the whole report as text; config `report.*`: spec, profile, the source runs' ids.

What wandb 0.31 stores offline: the run file `run-<id>.wandb` holds the summary (and a history row)
with `table = {_type: table-file, path: media/table/table_0_<hash>.table.json, sha256, nrows, ncols,
...}` and `figure = {_type: image-file, path: media/images/figure_0_<hash>.png, sha256, width,
height, format, ...}`; the files themselves are in the run's `files/` folder (the table as JSON
`{"columns": [...], "data": [[...], ...]}`, the image as the PNG); `wandb sync` uploads both.

The run id is `report-<table>-<hash of the report's bytes>`: the same runs give the same files and
so the same id, and a run with that id already under the W&B dir (offline) or already on the server
(online: resumed, found to exist) is left as it is, so regenerating adds no run. The table reader
never counts these runs as a table's runs (`REPORT_JOB_TYPE`, table.select_runs).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from bench.results.report.table import REPORT_JOB_TYPE, Table

LOGGER_KEYS = ("project", "entity", "mode", "tags", "dir")


def logger_settings(overrides: Sequence[str] = ()) -> dict:
    """The jobs' W&B settings (`conf/logger/wandb.yaml`, env defaults resolved) with `logger.<key>=` overrides.

    `dir` is Hydra's job output dir there, which a report does not have: it is None unless overridden."""
    from omegaconf.errors import InterpolationResolutionError

    from bench.config.compose import compose_config  # lazy: composing imports the config schema

    cfg = compose_config(list(overrides), config_name="logger/wandb").logger
    out = {}
    for key in LOGGER_KEYS:
        try:
            value = cfg.get(key)
        except InterpolationResolutionError:
            value = None
        out[key] = list(value) if key == "tags" and value is not None else value
    return out


def report_run_id(name: str, md: str, png: bytes | None) -> str:
    digest = hashlib.sha1(name.encode() + b"\0" + md.encode() + b"\0" + (png or b"")).hexdigest()[:12]
    return f"report-{name}-{digest}"


def published_offline(wandb_dir: Path, run_id: str) -> Path | None:
    """An offline run directory of this id under `<wandb_dir>/wandb`, if one exists."""
    found = sorted((wandb_dir / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    return found[-1].parent if found else None


def publish_table(table: Table, md: str, png_path: Path | None, wandb_dir: Path,
                  overrides: Sequence[str] = ()) -> str:
    """Log the table's run (see the module docstring); returns a line for the console."""
    settings = logger_settings(overrides)
    mode = settings["mode"] or "offline"
    if mode == "disabled":
        return "W&B disabled (logger.mode=disabled): not published"
    spec = table.spec
    name = spec["name"]
    png = png_path.read_bytes() if png_path else None
    run_id = report_run_id(name, md, png)
    root = Path(settings["dir"] or wandb_dir)
    if mode == "offline" and (done := published_offline(root, run_id)):
        return f"W&B run {run_id} already holds this table: {done}"
    import wandb

    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    quiet = wandb.Settings(console="off", silent=True, x_disable_stats=True, x_disable_meta=True,
                           x_disable_machine_info=True, disable_git=True, save_code=False,
                           x_save_requirements=False, disable_job_creation=True)
    config = {"experiment": name, "job_type": REPORT_JOB_TYPE,
              "report": {"spec": f"conf/report/{name}.yaml", "profile": table.profile, "runs": len(table.runs),
                         "run_ids": sorted(str(r) for r in table.runs["run_id"]) if len(table.runs) else []}}
    run = wandb.init(project=settings["project"], entity=settings["entity"], mode=mode, dir=str(root),
                     group=spec["runs"]["group"], job_type=REPORT_JOB_TYPE, name=f"report:{name}", id=run_id,
                     resume="allow" if mode == "online" else None, tags=settings["tags"] or [], config=config,
                     settings=quiet, reinit="create_new")
    where = Path(run.dir).parent if mode == "offline" else getattr(run, "url", None) or run_id
    try:
        if run.resumed:  # online: this exact table is already on the server
            return f"W&B run {run_id} already holds this table: {where}"
        data = [[str(c) for c in row] for row in table.rows]
        logged = {"table": wandb.Table(columns=[str(h) for h in table.header], data=data)}
        if png_path:
            logged["figure"] = wandb.Image(str(png_path), caption=spec["title"])
        run.log(logged)
        run.summary.update({"markdown": md, "status": "finished", "profile": table.profile})
    finally:
        run.finish()
    hint = f" (upload: wandb sync {where})" if mode == "offline" else ""
    return f"W&B run {run_id} ({mode}): {where}{hint}"
