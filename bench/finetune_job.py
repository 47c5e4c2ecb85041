"""The fine-tuning job: resolve the encoder, fine-tune on one task, evaluate on its dev sets.

Everything task-specific comes from the task spec (`conf/task/*.yaml`): its type picks the head
and the metric inputs, its eval splits and suffixes name the logged keys (`mnli/acc_m`).
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bench.architecture import effective_encoder_config
from bench.data import build_features, get_tokenizer, load_task, make_dataloader, special_ids
from bench.encoders import resolve_encoder
from lightning_modules.encoder import count_parameters
from lightning_modules.finetune import FineTuneModule
from lightning_modules.metrics import compute_task_metrics


def finetune_hparams(cfg: DictConfig) -> dict:
    """The task's (paper) hyperparameters, replaced by the profile's where it sets them."""
    hp = OmegaConf.to_container(cfg.task.hparams, resolve=True)
    for k, v in OmegaConf.to_container(cfg.profile.finetune, resolve=True).items():
        if v is not None:
            hp[k] = v
    return hp


def predict(module: FineTuneModule, dataset, batch_size: int, pad_id: int) -> list[np.ndarray]:
    """Per-feature outputs in dataset order; batches are built from length-sorted features."""
    lengths = np.array([len(x) if np.ndim(x) == 1 else len(x[0]) for x in dataset["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    loader = make_dataloader(dataset.select(order.tolist()), batch_size, shuffle=False, seed=0, pad_id=pad_id,
                             group_by_length=False)
    outs: list[np.ndarray] = []
    module.eval()
    with torch.inference_mode():
        for batch in loader:
            logits = module({k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}).float().numpy()
            mask = batch["attention_mask"].numpy()
            for i in range(logits.shape[0]):
                if module.task_type == "span_qa":  # trim the padding: [T_i, 2]
                    outs.append(logits[i, : int(mask[i].sum())])
                else:
                    outs.append(logits[i])
    result: list[np.ndarray] = [None] * len(outs)  # type: ignore[list-item]
    for pos, idx in enumerate(order):
        result[idx] = outs[pos]
    return result


def evaluate(module, task: DictConfig, data_cfg, tokenizer, examples_by_split, hp, pad_id) -> dict[str, float]:
    results: dict[str, float] = {}
    for split, suffix in task.splits.eval.items():
        examples = examples_by_split[split]
        features = build_features(task, data_cfg, tokenizer, split, hp["max_length"], hp.get("doc_stride"))
        outs = predict(module, features, hp.get("eval_batch_size", 64), pad_id)
        if task.type == "span_qa":
            inputs = dict(examples=examples, features=features,
                          start_logits=[o[:, 0] for o in outs], end_logits=[o[:, 1] for o in outs])
        elif task.type == "multiple_choice":
            inputs = dict(logits=np.stack(outs), labels=np.array(features["labels"]),
                          example_ids=list(examples["example_id"]))
        else:
            inputs = dict(preds=np.stack(outs), labels=np.array(features["labels"]))
        metrics = compute_task_metrics(task.type, list(task.metrics), **inputs)
        results.update({f"{task.name}/{k}{suffix or ''}": float(v) for k, v in metrics.items()})
    return results


def finetune(cfg: DictConfig, run) -> dict:
    task = cfg.task
    L.seed_everything(cfg.seed, workers=True)
    tokenizer = get_tokenizer(cfg.data, task.language)
    ids = special_ids(tokenizer)
    arch = effective_encoder_config(cfg, vocab_size=tokenizer.get_vocab_size())
    encoder_state, arch, extra = resolve_encoder(cfg, arch)
    hp = finetune_hparams(cfg)
    dataset = load_task(task, cfg.data)
    train = build_features(task, cfg.data, tokenizer, task.splits.train, hp["max_length"], hp.get("doc_stride"))
    steps_per_epoch = math.ceil(len(train) / hp["batch_size"])
    max_steps = int(hp.get("max_steps") or steps_per_epoch * hp["epochs"])
    module = FineTuneModule(
        arch.to_dict(), task.type, num_labels=len(task.label_names) if task.get("label_names") else None,
        lr=hp["lr"], weight_decay=hp["weight_decay"], warmup_ratio=hp["warmup_ratio"], total_steps=max_steps,
        seed=cfg.seed,
    )
    if encoder_state is not None:
        module.encoder.load_state_dict(encoder_state)
    job_dir = Path(cfg.job_dir)
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=job_dir, filename="epoch{epoch}", save_last=True,
                                               every_n_epochs=1, save_top_k=0)
    trainer: L.Trainer = instantiate(
        cfg.trainer, max_steps=max_steps, callbacks=[ckpt], default_root_dir=str(job_dir),
        logger=L.pytorch.loggers.WandbLogger(experiment=run) if run is not None else False,
        num_sanity_val_steps=0, limit_val_batches=0,
    )
    loader = make_dataloader(train, hp["batch_size"], shuffle=True, seed=cfg.seed, pad_id=ids.pad)
    last = job_dir / "last.ckpt"
    trainer.fit(module, loader, ckpt_path=str(last) if last.exists() else None)
    summary = {f"params/{k}": v for k, v in count_parameters(module.encoder).items() if k != "pooler"}
    summary.update(extra)
    summary["finetune/steps"] = trainer.global_step
    summary.update(evaluate(module, task, cfg.data, tokenizer, dataset, hp, ids.pad))
    return summary
