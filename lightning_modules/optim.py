"""AdamW with linear warm-up and linear decay, as BERT and its successors train (pretraining,
distillation and fine-tuning all use this one)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def warmup_linear_decay(warmup_steps: int, total_steps: int):
    """LR multiplier: linear warm-up to 1, then linear decay to 0 at total_steps (BERT, RoBERTa)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def adamw_with_linear_schedule(
    named_parameters: Iterable[tuple[str, nn.Parameter]], lr: float, weight_decay: float, warmup_steps: int,
    total_steps: int, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
) -> dict:
    """Lightning's `configure_optimizers` dict (scheduler stepped every optimizer step).

    Biases and LayerNorm weights get no weight decay; a shared (ALBERT) parameter appears once.
    """
    decay, no_decay, seen = [], [], set()
    for name, p in named_parameters:
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, betas=betas, eps=eps,
    )
    total_steps = max(1, int(total_steps))
    warmup_steps = max(1, min(int(warmup_steps), total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_linear_decay(warmup_steps, total_steps))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def log_training_rates(module, prefix: str, batch) -> None:
    """Log `<prefix>/lr` (the first parameter group's, used by this step) and `<prefix>/tokens_per_s`: the
    batch's non-padding tokens, times the processes of the fit, over the wall time since the previous
    batch (data loading, forward, backward and optimizer included); the first batch of a fit has none."""
    import time

    trainer = module._trainer
    if trainer is None or not trainer.optimizers:
        return
    now = time.perf_counter()
    previous, module._rate_clock = getattr(module, "_rate_clock", None), now
    ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    tokens = float(mask.sum()) if mask is not None else float(ids.numel())
    size = ids.shape[0]
    module.log(f"{prefix}/lr", float(trainer.optimizers[0].param_groups[0]["lr"]), on_step=True, on_epoch=False,
               batch_size=size)
    if previous is not None and now > previous:
        module.log(f"{prefix}/tokens_per_s", tokens * trainer.world_size / (now - previous), on_step=True,
                   on_epoch=False, batch_size=size)
