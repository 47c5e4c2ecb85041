"""AdamW with linear warm-up and linear decay, as BERT and its successors train."""

from __future__ import annotations

import torch
from torch import nn


def adamw_with_linear_schedule(
    module: nn.Module, lr: float, weight_decay: float, warmup_steps: int, total_steps: int,
    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
) -> dict:
    """The Lightning `configure_optimizers` dict. Biases and LayerNorm weights get no decay."""
    decay, no_decay = [], []
    seen: set[int] = set()
    for name, p in module.named_parameters():
        if not p.requires_grad or id(p) in seen:  # a shared (ALBERT) parameter appears once
            continue
        seen.add(id(p))
        (no_decay if p.ndim < 2 else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, betas=betas, eps=eps,
    )
    total_steps = max(1, int(total_steps))
    warmup_steps = max(0, min(int(warmup_steps), total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
