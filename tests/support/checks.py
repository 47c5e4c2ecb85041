"""What a sweep's console output and a job's W&B run must hold (issue 20), shared by the sweep tests."""

from __future__ import annotations

import json
import re

from bench.results.runfile import read_run_file

TIME = re.compile(r"^\d\d:\d\d:\d\d ")


def check_sweep_console(stdout: str, stderr: str, jobs: dict[str, str], counts: str, report: str | None = None,
                        tracebacks: int = 0) -> list[str]:
    """`jobs`: a fragment of each job's line -> the headline metric its result line shows (or the state).
    Returns the lines (without their time) for further checks."""
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    messages = [TIME.sub("", line) for line in lines]
    noisy = [m for m in messages if "Warning" in m or re.search(r"\.py:\d+: ", m)]  # warnings.warn's format
    assert not noisy, "warnings in the sweep's output:\n" + "\n".join(noisy)
    twice = [a for a, b in zip(messages, messages[1:]) if a == b]
    assert not twice, f"printed twice in a row: {twice}"
    total = len(jobs)
    for fragment, result in jobs.items():
        mine = [m for m in messages if re.match(rf"\[\d+/{total}\] ", m) and fragment in m + " "]
        starts = [m for m in mine if "->" not in m]
        ends = [m for m in mine if "->" in m]
        assert len(starts) == 1 and len(ends) == 1, f"{fragment}: {mine}\n" + "\n".join(messages)
        assert re.search(rf"-> {re.escape(result)}[ :].*\(\d+ s\)", ends[0]), ends[0]
    assert sum(m.count("Traceback (most recent call last)") for m in messages) == tracebacks, "\n".join(messages)
    assert [m for m in messages if "ended after" in m and counts in m], "\n".join(messages)
    if report is not None:
        assert f"report: bench-report {report}" in messages, "\n".join(messages)
    return messages


def check_finetune_run(run: dict, logged_encoder: bool) -> None:
    """A fine-tuning run read back from its offline file (read_runs(..., history=True) row): curves against
    the trainer's step, the machine and libraries, the stored encoder it used (and logged, if it trained it)."""
    hist = run["history"]
    for key in ("train/loss", "train/lr", "train/tokens_per_s"):
        assert key in hist and hist[key].notna().any(), (key, list(hist.columns))
    assert list(hist["trainer/global_step"]) == list(range(len(hist)))
    assert (hist["train/tokens_per_s"].dropna() > 0).all() and (hist["train/lr"] > 0).all()
    assert run["config.env.torch"] and run["config.env.wandb"] and run["config.env.cpu"]
    assert run["config.env.torch_threads"] >= 1
    rf = read_run_file(run["file"])
    assert rf.metrics["train/*"] == "trainer/global_step"  # define_metric: the curves' axis
    key = run["config.encoder_store_key"]
    assert run["config.encoder_artifact"] == f"encoder-{key}"
    logged = {a["name"]: a for a in json.loads(run["artifacts"])}
    if logged_encoder:
        art = logged[f"encoder-{key}"]
        assert art["type"] == "model" and {"model.safetensors", "config.json"} <= set(art["files"])
    else:
        assert f"encoder-{key}" not in logged
