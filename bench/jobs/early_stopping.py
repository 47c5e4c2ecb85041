"""Early stopping on a dev metric, opt-in (`early_stopping.patience`); off by default, because the
papers fine-tune a fixed budget.

Every `every_n_steps` optimizer steps the dev split of the watched metric is scored with the same
official evaluation as the end of the job (never the test split), the scores are logged at that
step (the W&B step of its last batch) as `early_stopping/<task>/<metric>`, and training stops
after `patience` evaluations without an improvement of more than `min_delta`. The best weights are
put back before the final evaluation, so the summary reports the best checkpoint. Every metric of
the suite is higher-is-better.

The callback's state (best score and step, evaluations without improvement, best weights) travels
in `last.ckpt`, so a killed and resumed job stops where the uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig


@dataclass(frozen=True)
class EarlyStoppingPlan:
    metric: str  # the summary key watched, e.g. mnli/acc_m
    split: str  # the dev split that gives it
    every_n_steps: int
    patience: int
    min_delta: float


def early_stopping_plan(cfg: DictConfig, task: DictConfig) -> EarlyStoppingPlan | None:
    """The validated `early_stopping` config of a fine-tuning job; None when it is off."""
    es = cfg.get("early_stopping") or {}
    if es.get("patience") is None:
        return None
    for key in ("patience", "every_n_steps"):
        value = es.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"early_stopping.{key} must be a positive integer, got {value!r}")
    min_delta = es.get("min_delta", 0.0)
    if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or min_delta < 0:
        raise ValueError(f"early_stopping.min_delta must be a number >= 0, got {min_delta!r}")
    metric = es.get("metric") or f"{task.name}/{task.headline}"
    dev = {split: suffix for split, suffix in task.splits.eval.items() if not split.startswith("test")}  # RACE: test
    keys = {f"{task.name}/{m}{suffix or ''}": split for split, suffix in dev.items() for m in task.metrics}
    if metric not in keys:
        raise ValueError(f"early_stopping.metric={metric!r} is not a dev metric of task {task.name}; "
                         f"choose one of {', '.join(sorted(keys))}")
    return EarlyStoppingPlan(metric, keys[metric], int(es.every_n_steps), int(es.patience), float(min_delta))


class DevEarlyStopping(Callback):
    """Scores `evaluate(module) -> {key: value}` every `plan.every_n_steps` steps; see the module doc."""

    def __init__(self, plan: EarlyStoppingPlan, evaluate: Callable[[torch.nn.Module], dict[str, float]]) -> None:
        self.plan = plan
        self.evaluate = evaluate
        self.best: float | None = None
        self.best_step = 0
        self.bad_evals = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped_step: int | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.plan.every_n_steps:
            return
        scores = self.evaluate(pl_module)
        pl_module.train()  # evaluation left the module in eval mode
        if trainer.logger is not None:
            # Own keys: under the final ones, W&B would let the last check overwrite the final summary.
            # Step: Lightning logs this batch's train/loss at global_step - 1 after this hook, and W&B
            # drops any row logged at a step below the last one.
            trainer.logger.log_metrics({f"early_stopping/{k}": v for k, v in scores.items()}, step=step - 1)
        score = scores[self.plan.metric]
        if self.best is None or score > self.best + self.plan.min_delta:
            self.best, self.best_step, self.bad_evals = score, step, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        else:
            self.bad_evals += 1
            if self.bad_evals >= self.plan.patience:
                self.stopped_step = step
                trainer.should_stop = True

    def restore_best(self, module: torch.nn.Module) -> None:
        """Put the best weights back (after training; nothing to do before the first evaluation)."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)

    def summary(self) -> dict:
        out = {"finetune/stopped_early": self.stopped_step is not None}
        if self.best is not None:  # the final evaluation scores these weights
            out["finetune/best_step"] = self.best_step
        return out

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step, "bad_evals": self.bad_evals,
                "best_state": self.best_state, "stopped_step": self.stopped_step}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_step, self.bad_evals = state["best"], state["best_step"], state["bad_evals"]
        self.best_state, self.stopped_step = state["best_state"], state["stopped_step"]
