"""What the faster inference modes cost in accuracy, measured on a fine-tuned model (the timing uses random weights)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from bench.jobs.speed.modes import prepare_mode


def mode_accuracy_cost(
    module: nn.Module,
    dataloader: Iterable[dict],
    metric_fn: Callable[[torch.Tensor, torch.Tensor], float],
    modes: Sequence[str],
    *,
    forward: Callable[[nn.Module, dict], torch.Tensor] | None = None,
    label_key: str = "labels",
    device: str = "cpu",
) -> dict[str, float]:
    """The metric of a fine-tuned `module` evaluated in each inference mode: {mode: metric}.

    `forward(module, batch)` gives the predictions (default `module(batch)`, as FineTuneModule);
    `metric_fn(predictions, labels)` is called once on the whole set. The module is not changed.
    """
    forward = forward or (lambda m, batch: m(batch))
    was_training = module.training
    module.eval()
    results: dict[str, float] = {}
    try:
        for mode in modes:
            model, ctx = prepare_mode(module, mode, device)
            preds, labels = [], []
            with torch.inference_mode():
                for batch in dataloader:
                    with ctx():
                        preds.append(forward(model, batch).float())
                    labels.append(batch[label_key])
            results[mode] = float(metric_fn(torch.cat(preds), torch.cat(labels)))
    finally:
        module.train(was_training)
    return results


def accuracy_drops(results: dict[str, float], reference: str = "fp32") -> dict[str, float]:
    """Points lost by each mode against the reference mode (positive = worse)."""
    if reference not in results:
        raise KeyError(f"reference mode {reference!r} not among the evaluated modes {sorted(results)}")
    return {m: results[reference] - v for m, v in results.items()}
