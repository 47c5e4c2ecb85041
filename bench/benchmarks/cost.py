"""Benchmark: what `make tables` costs, per experiment: estimated from a few measured jobs, and measured
from a sweep's runs where they exist.

    python -m bench.benchmarks.cost [--seeds 3] [--experiments albert_depth,roberta_nsp] [--workers 2]
                                    [--runs multirun] [--profile tiny]

Where a tiny job's time goes is measured first, on one thread (sweeps run one thread per job):
- per task, one real fine-tuning job at the profile's architecture (`objective=none`, a few dozen steps,
  an offline W&B run): data and features (`prepare`), seconds per optimizer step after the first few,
  evaluation (`score`), the W&B run's opening and closing, a checkpoint save;
- per architecture the plan trains, a bare training step (forward, backward, AdamW) on batches of the
  shape it meets: the ratio to the profile's architecture scales the measured fine-tuning steps and
  evaluation; pretraining steps are bare steps times Lightning's measured factor (a Trainer against a
  bare loop over the same batches);
- per pretraining recipe, its data: tokenizing the corpus and building (and statically masking) examples.
Then every job of every experiment is costed, and the sweep is simulated on `--workers` processes in
its launch order, with the store's lock: a job whose encoder another worker is pretraining waits.
`--runs DIR` adds each experiment's measured wall time (while any of its W&B runs ran: pauses between sittings
are not counted).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import itertools
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf, open_dict

from bench.benchmarks.tables_runs import measured_walls, tables_order, tables_sweep_args
from bench.config.architecture import effective_encoder_config, teacher_config
from bench.config.compose import compose_config, sweep_params
from bench.data import get_tokenizer
from bench.io import CONF_DIR
from bench.jobs.finetune import finetune_hparams
from bench.jobs.pretrain import objective_config
from lightning_modules.encoder import EncoderConfig
from lightning_modules.finetune import FineTuneModule
from lightning_modules.inputs import IGNORE_INDEX
from lightning_modules.pretrain import PretrainModule

EXPERIMENTS = tables_order()


# ---- the plan: every job of a sweep, in launch order ------------------------------------------------------------

@dataclass(frozen=True)
class Pretraining:
    key: str  # architecture + recipe + seed: what the store shares between jobs and experiments
    arch: EncoderConfig
    objective: str
    steps: int
    micro_batch: int
    accumulate: int
    seq: int
    objective_json: str  # what building its data costs depends on: the recipe, the data, the corpus scale
    data_yaml: str
    corpus_scale: int
    teacher: Pretraining | None = None  # distillation: the teacher's own pretraining comes first


@dataclass
class Job:
    experiment: str
    overrides: tuple[str, ...]
    task: str
    task_type: str
    arch: EncoderConfig
    steps: int
    pretraining: Pretraining | None
    seconds: float = 0.0
    parts: dict = field(default_factory=dict)


def sweep_overrides(experiment: str, profile: str, seeds: int | None, conf: Path = CONF_DIR,
                    narrow: dict[str, str] | None = None) -> list[list[str]]:
    """The sweep's jobs at `profile` as override lists, in the basic sweeper's order (the last key varies fastest);
    `narrow` replaces some of its params, as `make tables` does (TABLE_ARGS)."""
    params = {**sweep_params(experiment, profile, conf), **(narrow or {})}
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    axes = []
    for o in parsed:
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        if o.get_key_element() == "seed" and seeds is not None:
            values = [str(s) for s in range(seeds)]
        axes.append([f"{o.get_key_element()}={v}" for v in values])
    if seeds is not None and not any(a[0].startswith("seed=") for a in axes):
        axes.append([f"seed={s}" for s in range(seeds)])
    return [list(c) for c in itertools.product(*axes)]


@functools.cache
def _vocab(data_yaml: str, language: str) -> int:
    return get_tokenizer(OmegaConf.create(data_yaml), language).get_vocab_size()


def _pretraining(cfg, vocab: int) -> Pretraining | None:
    if str(cfg.objective.name) == "none":
        return None
    obj, row = objective_config(cfg)
    arch = effective_encoder_config(cfg, vocab_size=vocab)
    teacher = None
    if obj.distillation is not None:
        teacher = _pretraining(teacher_config(cfg), vocab)
    scale = int(row.get("corpus_scale", 1))
    key = json.dumps([arch.to_dict(), obj.to_dict(), scale, int(cfg.seed), teacher.key if teacher else None],
                     sort_keys=True)
    return Pretraining(key, arch, obj.name, int(obj.max_steps or 0), obj.micro_batch_size,
                       int(obj.accumulate_grad_batches), int(obj.max_seq_length),
                       json.dumps(obj.to_dict(), sort_keys=True), OmegaConf.to_yaml(cfg.data, resolve=True), scale, teacher)


def plan(experiment: str, profile: str, seeds: int | None, conf: Path = CONF_DIR) -> list[Job]:
    """Every job of the experiment's sweep, composed from the config tree `conf` (another revision's: `--compare`)."""
    if Path(conf).resolve() == CONF_DIR.resolve():
        return _plan(experiment, profile, seeds, CONF_DIR)
    from hydra import initialize_config_dir

    from bench.config.schema import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(Path(conf).resolve()), version_base="1.3"):
        return _plan(experiment, profile, seeds, Path(conf))


def _plan(experiment: str, profile: str, seeds: int | None, conf: Path) -> list[Job]:
    jobs, composed = [], {}
    narrow = tables_sweep_args().get(experiment) if conf == CONF_DIR else None  # this checkout's `make tables`
    for overrides in sweep_overrides(experiment, profile, seeds, conf, narrow):
        row = tuple(o for o in overrides if not o.startswith("task="))
        if row not in composed:
            composed[row] = compose_config([f"experiment={experiment}", f"profile={profile}", *row])
        cfg = composed[row].copy()
        task = next((o.split("=", 1)[1] for o in overrides if o.startswith("task=")), None)
        if task is not None:
            with open_dict(cfg):
                cfg.task = OmegaConf.load(conf / "task" / f"{task}.yaml")
        vocab = _vocab(OmegaConf.to_yaml(cfg.data, resolve=True), str(cfg.task.language))
        hp = finetune_hparams(cfg)
        jobs.append(Job(experiment, tuple(overrides), str(cfg.task.name), str(cfg.task.type),
                        effective_encoder_config(cfg, vocab_size=vocab), int(hp["max_steps"]),
                        _pretraining(cfg, vocab)))
    return jobs


# ---- measurements ------------------------------------------------------------------------------------------------

def _random_batch(arch: EncoderConfig, batch: int, seq: int, gen: torch.Generator) -> dict:
    ids = torch.randint(5, arch.vocab_size, (batch, seq), generator=gen)
    labels = torch.full_like(ids, IGNORE_INDEX)
    masked = torch.rand(ids.shape, generator=gen) < 0.15
    labels[masked] = ids[masked]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
            "labels": labels, "sentence_label": torch.zeros(batch, dtype=torch.long)}


def bare_step_s(arch: EncoderConfig, objective: str | None, batch: int, seq: int) -> float:
    """Seconds of one bare AdamW step of a pretraining module (objective) or a fine-tuning one (None)."""
    return _bare_step_s(json.dumps(arch.to_dict(), sort_keys=True), objective, batch, seq)


@functools.cache
def _bare_step_s(arch_json: str, objective: str | None, batch: int, seq: int) -> float:
    arch = EncoderConfig(**json.loads(arch_json))
    gen = torch.Generator().manual_seed(0)
    if objective is None:
        module = FineTuneModule(arch.to_dict(), "classification", num_labels=2, total_steps=10)
        data = _random_batch(arch, batch, seq, gen)
        data = {"input_ids": data["input_ids"], "attention_mask": data["attention_mask"],
                "labels": torch.zeros(batch, dtype=torch.long)}
        loss_fn = lambda b: module.loss(module(b), b)  # noqa: E731
    else:
        module = PretrainModule(arch, {"name": objective, "sentence_task": "none"})
        data = _random_batch(arch, batch, seq, gen)
        loss_fn = lambda b: module.compute_losses(b)["loss"]  # noqa: E731
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
    times = []
    n = 2 if arch.num_layers * arch.hidden_size ** 2 > 48 * 64 ** 2 else 4
    for i in range(n + 1):  # the first step warms allocators up
        t = time.perf_counter()
        loss_fn(data).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


class StepTimer(L.Callback):
    """Instantiated from `callbacks:` in a job's config: the batch shapes, the seconds per step after the first
    `skip` steps, and one checkpoint save at the end, in `StepTimer.seen`."""

    seen: dict = {}

    def __init__(self, skip: int = 5):
        self.skip, self.t, self.shapes = skip, None, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.shapes.append(tuple(batch["input_ids"].shape))
        if trainer.global_step == self.skip and self.t is None:
            self.t = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        StepTimer.seen["step_s"] = (time.perf_counter() - self.t) / max(1, trainer.global_step - self.skip)
        StepTimer.seen["shape"] = [statistics.mean(s[i] for s in self.shapes) for i in range(len(self.shapes[0]))]
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            trainer.save_checkpoint(Path(d) / "x.ckpt")
            StepTimer.seen["save_s"] = time.perf_counter() - t


def measure_finetune(task: str, profile: str, steps: int, cache: str) -> dict:
    """One real fine-tuning job of `task` at the profile's architecture, timed by part."""
    from bench.jobs.finetune import fit, prepare, score
    from bench.jobs.tracking import run_tracked

    parts: dict[str, float] = {}
    prepared_arch: dict = {}
    cfg = compose_config([f"task={task}", f"profile={profile}", "objective=none", f"profile.finetune.max_steps={steps}",
                          "+callbacks.timer._target_=bench.benchmarks.cost.StepTimer", "rerun=true"])
    with tempfile.TemporaryDirectory() as tmp, open_dict(cfg):
        cfg.paths.cache, cfg.data.cache_dir, cfg.logger.dir, cfg.logger.mode = tmp, cache, tmp, "offline"
        if task.startswith("race") and cfg.profile.get("finetune_by_type"):
            cfg.profile.finetune_by_type.multiple_choice.max_steps = steps

        def job(cfg, run):
            t0 = time.perf_counter()
            prepared = prepare(cfg)
            prepared_arch["arch"] = prepared.arch
            t1 = time.perf_counter()
            fitted = fit(prepared, Path(cfg.job_dir), run)
            t2 = time.perf_counter()
            out = score(prepared, fitted, Path(cfg.job_dir), run)
            parts.update(prepare_s=t1 - t0, fit_s=t2 - t1, score_s=time.perf_counter() - t2)
            return out

        t = time.perf_counter()
        run_tracked(cfg, f"cost-{task}", job, reraise=True)
        total = time.perf_counter() - t
    # the config's callback is this module imported by name (not __main__ when run with -m)
    parts.update(importlib.import_module("bench.benchmarks.cost").StepTimer.seen)
    parts["wandb_s"] = total - parts["prepare_s"] - parts["fit_s"] - parts["score_s"]
    parts["fit_fixed_s"] = parts["fit_s"] - parts["step_s"] * steps - parts["save_s"]
    parts["arch"] = prepared_arch.get("arch")
    return parts


@functools.cache
def pretrain_data_s(objective_json: str, data_yaml: str, corpus_scale: int) -> float:
    """Seconds to tokenize the corpus and build (and statically mask) one recipe's examples."""
    from bench.data.loading import load_corpus
    from bench.data.pretraining import build_for_objective, tokenize_documents
    from bench.data.tokenizer import SpecialIds
    from lightning_modules.pretrain import ObjectiveConfig

    obj = ObjectiveConfig(**json.loads(objective_json))
    data = OmegaConf.create(data_yaml)
    if corpus_scale != 1:
        data = OmegaConf.merge(data, {"sizes": {"corpus": {obj.language: int(data.sizes.corpus[obj.language]) * corpus_scale}}})
    tokenizer = get_tokenizer(data, obj.language)
    t = time.perf_counter()
    docs = tokenize_documents(load_corpus(data, obj.language), tokenizer, obj.language)
    build_for_objective(obj, docs, SpecialIds.from_tokenizer(tokenizer), tokenizer.get_vocab_size(), seed=0)
    return time.perf_counter() - t


def lightning_factor(arch: EncoderConfig, batch: int, seq: int, steps: int = 25) -> float:
    """A Trainer's seconds per pretraining step over a bare loop's, on the same random batches."""
    gen = torch.Generator().manual_seed(0)
    batches = [_random_batch(arch, batch, seq, gen) for _ in range(steps)]
    module = PretrainModule(arch, {"name": "cost", "sentence_task": "none", "max_steps": steps})
    timer = StepTimer(skip=5)
    trainer = L.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", callbacks=[timer], num_sanity_val_steps=0)
    trainer.fit(module, torch.utils.data.DataLoader(batches, batch_size=None))
    return StepTimer.seen["step_s"] / bare_step_s(arch, "cost", batch, seq)


# ---- costing and the sweep's schedule ----------------------------------------------------------------------------

class CostModel:
    def __init__(self, profile: str, cache: str, steps: int = 40):
        self.profile, self.cache, self.steps = profile, cache, steps
        self.tasks: dict[str, dict] = {}
        self.factor: float | None = None

    def task(self, name: str) -> dict:
        if name not in self.tasks:
            self.tasks[name] = measure_finetune(name, self.profile, self.steps, self.cache)
        return self.tasks[name]

    def finetune_s(self, job: Job) -> dict:
        m = self.task(job.task)
        shape = m["shape"]
        batch, seq = round(shape[0] * (shape[1] if len(shape) == 3 else 1)), max(8, round(shape[-1]))
        ratio = bare_step_s(job.arch, None, batch, seq) / bare_step_s(m["arch"], None, batch, seq)
        cadence = compose_config([f"profile={self.profile}"]).profile.finetune_checkpoint.every_n_steps or 0
        saves = job.steps // cadence if cadence else 0
        return {"job": m["wandb_s"] + m["prepare_s"] + max(0.0, m["fit_fixed_s"]) + saves * m["save_s"],
                "steps": job.steps * m["step_s"] * ratio, "eval": m["score_s"] * ratio}

    def pretrain_s(self, p: Pretraining) -> float:
        if self.factor is None:
            ref = self.task("sst2")["arch"]
            self.factor = lightning_factor(ref, 32, 128)
        step = bare_step_s(p.arch, p.objective, p.micro_batch, p.seq)
        if p.teacher is not None:  # the teacher's forward pass: about a third of its training step
            step += bare_step_s(p.teacher.arch, p.teacher.objective, p.micro_batch, p.seq) / 3
        data = pretrain_data_s(p.objective_json, p.data_yaml, p.corpus_scale)
        return data + p.steps * p.accumulate * step * self.factor


def schedule(jobs: list[Job], model: CostModel, workers: int, trained: dict[str, float]) -> float:
    """Wall seconds of the sweep on `workers` processes, jobs dispatched in order to the first free worker;
    a job waits for an encoder that another worker is pretraining (the store's lock). `trained`: store key ->
    the time its entry is ready (earlier experiments' entries: 0), updated."""
    free = [0.0] * workers
    for job in jobs:
        w = min(range(workers), key=free.__getitem__)
        t = free[w]
        chain = [job.pretraining.teacher, job.pretraining] if job.pretraining else []
        for p in (p for p in chain if p is not None):
            if p.key in trained:
                t = max(t, trained[p.key])
            else:
                s = model.pretrain_s(p)
                job.parts["pretrain"] = job.parts.get("pretrain", 0.0) + s
                t += s
                trained[p.key] = t
        job.parts.update(model.finetune_s(job))
        t += sum(job.parts[k] for k in ("job", "steps", "eval"))
        job.seconds = sum(job.parts.values())
        free[w] = t
    return max(free)


def fmt_s(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 5400 else f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"


def conf_of(rev: str) -> Path:
    """The conf/ tree of git revision `rev`, extracted to a temporary directory."""
    import subprocess

    out = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    archive = subprocess.run(["git", "archive", rev, "conf"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / "conf"


def main(argv: list[str] | None = None) -> None:
    import os

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: each experiment's own)")
    ap.add_argument("--experiments", default=",".join(EXPERIMENTS))
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_N_JOBS", 2)))
    ap.add_argument("--steps", type=int, default=40, help="steps of each measured fine-tuning job")
    ap.add_argument("--compare", metavar="REV", help="also cost the sweeps of git revision REV's conf/ (before/after)")
    ap.add_argument("--compare-seeds", type=int, default=None, help="seeds per cell at REV (default: its own)")
    ap.add_argument("--runs", default=None, help="W&B run dirs of a finished `make tables` (comma-separated)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # as in a sweep: one thread per job
    model = CostModel(args.profile, os.environ.get("BENCH_CACHE_DIR", ".cache"), args.steps)
    measured = measured_walls(args.runs) if args.runs else {}
    before_conf = conf_of(args.compare) if args.compare else None
    trained: dict[str, float] = {}
    trained_before: dict[str, float] = {}
    rows = []
    for experiment in args.experiments.split(","):
        jobs = plan(experiment, args.profile, args.seeds)
        wall = schedule(jobs, model, args.workers, trained)
        before = None
        if before_conf is not None and (before_conf / "experiment" / f"{experiment}.yaml").exists():
            old = plan(experiment, args.profile, args.compare_seeds, before_conf)
            before = (len(old), schedule(old, model, args.workers, trained_before))
        for done in (trained, trained_before):  # `make tables` runs the experiments one after the other
            done.update(dict.fromkeys(done, 0.0))
        parts = {k: sum(j.parts.get(k, 0.0) for j in jobs) for k in ("pretrain", "steps", "eval", "job")}
        n_pt = len({j.pretraining.key for j in jobs if j.pretraining})
        rows.append((experiment, len(jobs), n_pt, parts, wall, before, measured.get(experiment)))
        print(f"{experiment}: {len(jobs)} jobs, {n_pt} pretrainings, est. wall {fmt_s(wall)}"
              + (f" (at {args.compare}: {before[0]} jobs, {fmt_s(before[1])})" if before else ""), flush=True)
    print("\nreference jobs (the profile's architecture, one thread):")
    for task, m in sorted(model.tasks.items()):
        print(f"  {task:<12} prepare {m['prepare_s']:5.1f} s  step {m['step_s'] * 1e3:6.1f} ms  batch "
              f"{'x'.join(f'{x:.0f}' for x in m['shape'])}  eval {m['score_s']:5.1f} s  W&B {m['wandb_s']:4.1f} s  "
              f"save {m['save_s'] * 1e3:.0f} ms")
    if model.factor:
        print(f"  Lightning / bare loop, pretraining step: {model.factor:.2f}")
    head = f"est. wall ({args.workers} workers)"
    print(f"\n| experiment | jobs | pretrainings | pretraining | fine-tuning steps | evaluation | per-job fixed | {head} "
          f"| at {args.compare or '-'}: jobs, {head} | measured |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for experiment, n, n_pt, parts, wall, before, meas in rows:
        cells = " | ".join(fmt_s(parts[k]) for k in ("pretrain", "steps", "eval", "job"))
        old = f"{before[0]}, {fmt_s(before[1])}" if before else "-"
        print(f"| {experiment} | {n} | {n_pt} | {cells} | {fmt_s(wall)} | {old} | {fmt_s(meas) if meas else '-'} |")
    extra = sorted(set(measured) - set(EXPERIMENTS))  # the timing jobs `make tables` runs first: measured only
    for group in extra:
        print(f"| {group} | | | | | | | - | - | {fmt_s(measured[group])} |")
    olds = [r[5][1] for r in rows if r[5]]
    shown = [r[6] for r in rows if r[6]] + [measured[g] for g in extra]
    print(f"| **all** | {sum(r[1] for r in rows)} | | | | | | **{fmt_s(sum(r[4] for r in rows))}** "
          f"| {fmt_s(sum(olds)) if olds else '-'} | {fmt_s(sum(shown)) if shown else '-'} |")


if __name__ == "__main__":
    main()
