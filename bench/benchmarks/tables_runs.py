"""What `make tables` does and took: the order it runs the tables in (the Makefile's), and each experiment's
measured wall time from its W&B runs (bench/benchmarks/cost.py prints them beside its estimates)."""

from __future__ import annotations

import json
import re

from bench.config.compose import sweep_params
from bench.io import CONF_DIR, REPO_ROOT


def _makefile_words(variable: str) -> list[str]:
    """The words of a `<variable> := ...` line of the Makefile (continued lines joined); none without one."""
    makefile = REPO_ROOT / "Makefile"
    text = makefile.read_text().replace("\\\n", " ") if makefile.exists() else ""
    m = re.search(rf"^{variable}\s*:=(.*)$", text, re.M)
    return m.group(1).split() if m else []


def tables_order() -> list[str]:
    """`make tables`' accuracy tables (not the timing jobs, not the released checkpoints' GPU runs) in the order it
    runs them: the Makefile's TABLES_BY_COST, then any other. The order matters: a store entry that an earlier
    table trained is free for the later ones."""
    tables = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")
                    if p.stem not in ("distilbert_speed", "inference_backends") and not p.stem.endswith("_released"))
    first = [t for t in _makefile_words("TABLES_BY_COST") if t in tables]
    return first + [t for t in tables if t not in first]


def tables_sweep_args() -> dict[str, dict[str, str]]:
    """How `make tables` narrows a table's sweep (the Makefile's TABLE_ARGS, `<experiment>:<key>=<values>`: the
    cells another table runs as the same jobs): {experiment: {key: values}}. A command-line sweep of one of the
    sweep's keys replaces its `hydra.sweeper.params` value in Hydra's basic sweeper; `hydra.sweeper.params.<key>=
    a,b` would be refused (Hydra sweeps none of its own config)."""
    out: dict[str, dict[str, str]] = {}
    for item in _makefile_words("TABLE_ARGS"):
        experiment, _, override = item.partition(":")
        key, _, values = override.partition("=")
        if not values or key.startswith("hydra."):
            raise ValueError(f"Makefile TABLE_ARGS: {item!r} is not <experiment>:<sweep key>=<values>")
        if not (CONF_DIR / "experiment" / f"{experiment}.yaml").exists():
            raise ValueError(f"Makefile TABLE_ARGS: {item!r}: no conf/experiment/{experiment}.yaml")
        if key not in sweep_params(experiment, "tiny"):
            raise ValueError(f"Makefile TABLE_ARGS: {item!r}: {key!r} is not a key of "
                             f"conf/experiment/{experiment}.yaml's hydra.sweeper.params")
        out.setdefault(experiment, {})[key] = values
    return out


def measured_walls(roots: str) -> dict[str, float]:
    """Each experiment's measured wall time: the time while at least one of its runs was running (the union
    of [start, start + runtime] of every attempt: a job resumed in a later sitting is a second run directory
    with its own start and runtime), so the pauses between sittings do not count. A job's process start and
    data preparation before its W&B run opens fall outside it."""
    import pandas as pd

    from bench.results.runfile import read_run_file
    from bench.results.runs import find_run_files

    attempts = []
    for path in find_run_files(roots.split(",")):
        rf = read_run_file(path, errors="mark")
        runtime = rf.summary_raw.get("_runtime")
        attempts.append({"group": rf.group, "start_time": rf.start_time,
                         "summary._runtime": float(json.loads(runtime)) if runtime else None})
    return walls_of(pd.DataFrame(attempts))


def walls_of(frame) -> dict[str, float]:
    """Busy time per `group` of a frame of attempts (`start_time` a timestamp, `summary._runtime` seconds)."""
    import pandas as pd

    out = {}
    if frame.empty or "summary._runtime" not in frame:
        return out
    for group, runs in frame.groupby("group"):
        start = (pd.to_datetime(runs["start_time"], utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        out[group] = busy_seconds(zip(start, start + pd.to_numeric(runs["summary._runtime"], errors="coerce")))
    return out


def busy_seconds(intervals) -> float:
    """The length of the union of (start, end) intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted((a, b) for a, b in intervals if a == a and b == b):  # NaN (no runtime): not counted
        if b > end:
            total += b - max(a, end)
            end = b
    return total
