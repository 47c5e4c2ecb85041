"""Scoring a fine-tuned module: the task spec's metrics on its dev splits, and the files beside them
(SQuAD's official-script predictions, GLUE test submissions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from bench.data import build_features, make_dataloader
from bench.io import atomic_write_text
from lightning_modules.finetune import FineTuneModule
from lightning_modules.metrics import compute_task_metrics


def predict(module: FineTuneModule, dataset, batch_size: int, pad_id: int) -> list[np.ndarray]:
    """Per-feature outputs in dataset order; batches are built from length-sorted features."""
    # a multiple-choice feature holds one row per option, of different lengths: its longest is what pads
    ragged = module.task_type == "multiple_choice"
    lengths = np.array([max(map(len, x)) if ragged else len(x) for x in dataset["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    loader = make_dataloader(dataset.select(order.tolist()), batch_size, shuffle=False, seed=0, pad_id=pad_id,
                             group_by_length=False)
    device = next(module.parameters()).device
    outs: list[np.ndarray] = []
    module.eval()
    with torch.inference_mode():
        for batch in loader:
            inputs = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
            logits = module(inputs).float().cpu().numpy()
            mask = batch["attention_mask"].numpy()
            for i in range(logits.shape[0]):
                if module.task_type == "span_qa":  # trim the padding: [T_i, 2]
                    outs.append(logits[i, : int(mask[i].sum())])
                else:
                    outs.append(logits[i])
    if len(outs) != len(order):
        raise RuntimeError(f"evaluation saw {len(outs)} of {len(order)} features (a sharded loader outside training?)")
    result: list[np.ndarray] = [None] * len(outs)  # type: ignore[list-item]
    for pos, idx in enumerate(order):
        result[idx] = outs[pos]
    return result


def evaluate(module, task: DictConfig, data_cfg, tokenizer, examples_by_split, hp, pad_id,
             out_dir: Path | None = None, splits: Sequence[str] | None = None) -> dict[str, float]:
    """The spec's metrics on every dev split (or only `splits`); SQuAD also writes the official
    scripts' prediction files to `out_dir` (`<split>_predictions.json`,
    `<split>_nbest_predictions.json`, v2: `<split>_null_odds.json`)."""
    results: dict[str, float] = {}
    for split, suffix in task.splits.eval.items():
        if splits is not None and split not in splits:
            continue
        examples = examples_by_split[split]
        features = build_features(task, data_cfg, tokenizer, split, hp["max_length"], hp.get("doc_stride"))
        outs = predict(module, features, hp.get("eval_batch_size", 64), pad_id)
        if task.type == "span_qa":
            inputs = dict(examples=examples, features=features,
                          start_logits=[o[:, 0] for o in outs], end_logits=[o[:, 1] for o in outs])
            if out_dir is not None:
                inputs.update(output_dir=out_dir, prefix=split)
        elif task.type == "multiple_choice":
            inputs = dict(logits=np.stack(outs), labels=np.array(features["labels"]),
                          example_ids=list(examples["example_id"]))
        else:
            inputs = dict(preds=np.stack(outs), labels=np.array(features["labels"]))
        metrics = compute_task_metrics(task.type, list(task.metrics), **inputs)
        results.update({f"{task.name}/{k}{suffix or ''}": float(v) for k, v in metrics.items()})
    return results


def write_test_predictions(module, task: DictConfig, data_cfg, tokenizer, examples_by_split, hp, pad_id,
                           out_dir: Path) -> list[Path]:
    """GLUE submission files for the test splits the spec's `submission` names: `<out_dir>/<SST-2>.tsv`
    with a header `index<TAB>prediction` and one row per test example (its hub `idx`), the label as
    its name (MNLI, QNLI, RTE), its index, or the STS-B score, as the GLUE server reads them."""
    sub = task.get("submission") or {}
    written = []
    for split, stem in (sub.get("files") or {}).items():
        features = build_features(task, data_cfg, tokenizer, split, hp["max_length"], hp.get("doc_stride"))
        outs = np.stack(predict(module, features, hp.get("eval_batch_size", 64), pad_id))
        index = examples_by_split[split]["idx"]
        if sub["labels"] == "scores":
            preds = [f"{v:.3f}" for v in outs.reshape(-1)]
        else:
            ids = outs.argmax(-1).tolist()
            preds = [task.label_names[i] for i in ids] if sub["labels"] == "names" else [str(i) for i in ids]
        path = out_dir / f"{stem}.tsv"
        atomic_write_text(path, "index\tprediction\n" + "".join(f"{i}\t{p}\n" for i, p in zip(index, preds)))
        written.append(path)
    return written


def predictions_dir(job_dir: Path, run) -> Path:
    """Where a job's prediction files go: the W&B run's own files (kept and synced with the run, never
    shared with another attempt), or `<job_dir>/predictions` when no run records the job."""
    out = Path(run.dir) / "predictions" if run is not None else Path(job_dir) / "predictions"
    out.mkdir(parents=True, exist_ok=True)
    return out


def eval_device(trainer_cfg: DictConfig) -> torch.device:
    accel = str(trainer_cfg.get("accelerator", "cpu"))
    return torch.device("cuda") if accel in ("gpu", "cuda", "auto") and torch.cuda.is_available() else torch.device("cpu")
