"""Report generation time over many synthetic offline runs (target: 1,000 runs, all tables, < 10 s).

    python -m bench.benchmarks.report [--runs 1000] [--keep DIR]

The runs are written straight into the record log (`tests.support.wandb_writer.write_run_file`, the
framing and records wandb 0.31 writes; a test checks the files against W&B's own inspector), one
directory per run in the Hydra multirun layout `<root>/<table>/<job>/wandb/offline-run-*-<id>/`.
Their configs are built from the table specs themselves (every expected row, every task column,
several seeds), with a few failed, crashed and diverged runs, so the benchmark exercises the
whole report: reading, selection, seed medians, derived columns, figures and footnotes.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from itertools import zip_longest
from pathlib import Path

from bench.results.report import PAPER_DIR, as_list, label_tuple, load_spec, main, table_names
from bench.results.report.spec import at_profile
from bench.results.runs import read_runs
from tests.support.wandb_writer import write_run_file

# One run in 37 ends badly, in turn failed (exit 1), crashed (no exit record), diverged.
_BAD = (("failed", 1, {"status": "failed", "error": "RuntimeError: synthetic failure"}),
        ("crashed", None, {}),
        ("diverged", 0, {"status": "diverged", "error": "loss is nan at step 7"}))


def _set(tree: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[last] = value


def _raw(v: str):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def cells(spec: dict) -> list[tuple[dict, str | None, list[str]]]:
    """(config, job type, summary keys) for every (row, task) cell the spec expects."""
    import pandas as pd

    labels = []
    if spec.get("paper"):
        paper = pd.read_csv(PAPER_DIR / spec["paper"], dtype=str, keep_default_na=False)
        labels = [tuple(r[row["label"]] for row in spec["rows"]) for _, r in paper.iterrows()]
    labels += [label_tuple(x) for x in as_list(spec.get("expect"))]
    skip = {label_tuple(x) for x in as_list(spec.get("paper_only"))}
    out = []
    for lab in dict.fromkeys(labels):
        if lab in skip:
            continue
        base: dict = {}
        for row, text in zip(spec["rows"], lab):
            inverse = {v: k for k, v in row["map"].items()}
            for key, raw in zip(row["key"], inverse.get(text, text).split(",")):
                _set(base, key, _raw(raw))
        groups: dict[tuple, list[str]] = {}
        for col in spec["columns"]:
            if col["kind"] == "metrics":
                task = col["where"].get("task.name")
                jt = (col["job_type"] or spec["runs"]["job_type"] or [None])[0]
                groups.setdefault((task, jt), []).extend(col["metrics"])
        for (task, jt), keys in groups.items():
            cfg = {**base, **({"task": {"name": task}} if task else {})}
            out.append((cfg, jt, keys))
    return out


def make_runs(root: Path, n: int = 1000, seed: int = 0) -> int:
    """Write n synthetic runs over every table (cells x seeds, tables interleaved); returns the count."""
    rng = random.Random(seed)
    per_table = []
    for name in table_names():
        spec = load_spec(name)
        per_table.append([(name, spec, c) for c in cells(at_profile(spec, "tiny"))])  # the runs are tagged tiny
    plan = [x for group in zip_longest(*per_table) for x in group if x is not None]  # tables interleaved
    t0 = 1.79e9
    for i in range(n):
        name, spec, (cfg, job_type, keys) = plan[i % len(plan)]
        run_seed = i // len(plan)
        run_id = f"syn{i:05d}"
        config = {**cfg, "experiment": spec["runs"]["group"], "job_type": job_type, "seed": run_seed,
                  "profile": {"name": "tiny"}}
        summary = {k: round(rng.uniform(30.0, 95.0), 3) for k in keys}
        summary.update({"params/total": rng.choice([412_000, 1_210_000, 3_400_000]), "status": "finished",
                        "profile": "tiny", "git_commit": "0000000"})
        exit_code = 0
        if i % 37 == 5:
            _, exit_code, summary = _BAD[(i // 37) % 3]
        write_run_file(root / name / str(i) / "wandb" / f"offline-run-20270101_000000-{run_id}", run_id=run_id,
                       name=f"{job_type}:{name}:{i}", group=spec["runs"]["group"], job_type=job_type,
                       project="bench", config=config, history=[{"train/loss": 2.0}, {"train/loss": 1.0}],
                       summary=summary, exit_code=exit_code, start_time=t0 + i)
    return n


def run(n: int, keep: Path | None) -> dict[str, float]:
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        t = time.perf_counter()
        make_runs(tmp / "runs", n)
        t_make = time.perf_counter() - t
        t = time.perf_counter()
        frame = read_runs(tmp / "runs", errors="mark")
        t_read = time.perf_counter() - t
        assert len(frame) == n, f"read {len(frame)} runs, wrote {n}"
        t = time.perf_counter()
        import lightning_modules.metrics.glue  # noqa: F401 - timed on its own: it loads torch and torchmetrics

        t_glue = time.perf_counter() - t
        t = time.perf_counter()
        code = main(["all", f"runs={tmp / 'runs'}", f"out={tmp / 'reports'}", "publish=false"])
        t_report = time.perf_counter() - t
        assert code == 0, f"bench-report exited {code}"
        return {"runs": n, "write_runs_s": t_make, "read_runs_s": t_read, "glue_import_s": t_glue,
                "report_all_s": t_report}
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--keep", type=Path, default=None, help="write runs and reports here and keep them")
    args = ap.parse_args()
    res = run(args.runs, args.keep)
    print(f"{res['runs']} synthetic offline runs: written in {res['write_runs_s']:.2f} s")
    print(f"read_runs (all files, tolerant): {res['read_runs_s']:.2f} s")
    print(f"import lightning_modules.metrics.glue (torch + torchmetrics, for the GLUE score): {res['glue_import_s']:.2f} s")
    print(f"bench-report all (read + 12 tables + figures + index), after that import: {res['report_all_s']:.2f} s")
    total = res["glue_import_s"] + res["report_all_s"]
    print(f"bench-report all, cold (both): {total:.2f} s (target < 10 s)")


if __name__ == "__main__":
    cli()
