"""The fine-tuning job: resolve the encoder, fine-tune on one task, evaluate on its dev sets.

Everything task-specific comes from the task spec (`conf/task/*.yaml`): its type picks the head
and the metric inputs, its eval splits and suffixes name the logged keys (`mnli/acc_m`).

Faults and scale:
- the fit writes `last.ckpt` into the job dir every n optimizer steps or m minutes
  (`profile.finetune_checkpoint`), on a stop signal and at the end, with everything that decides what
  comes next (loops, optimizer, scheduler, the loader's position, early stopping, RNGs); a restarted
  job resumes from it at that very batch, bit-identical to an uninterrupted fit on CPU, after loading
  it with weights_only=True and checking that it holds this job's architecture (an error naming the
  file and how to start over otherwise; nothing is moved or deleted);
- weights from the store or a checkpoint that do not fit the model fail with the file and the
  mismatching keys named, before any training;
- `batch_size` is the global batch: under DDP each of the N processes takes batch_size / N, and the
  length-grouped batch sampler shards itself (every N-th batch), so Lightning's sampler is off;
- evaluation runs once, in the rank-0 process, after fit: with several processes (ddp, ddp_spawn,
  fsdp) on the weights of `last.ckpt`, the full state that Lightning writes from rank 0 at the end;
- opt-in early stopping (`early_stopping.patience`, bench/jobs/early_stopping.py) scores a dev split
  during the fit (one process only) and puts the best weights back before that evaluation;
- `callbacks` in the config add Lightning callbacks to the fit (conf/config.yaml).

Modules: `hparams` (hyperparameters, module config), `restart` (checkpoint, batch order, history),
`weights` (weights checked before use, read back after a fit), `evaluation` (metrics, prediction
files), `job` (the steps prepare, fit, score). The job looks `evaluate` up in `job`.
"""

from bench.jobs.finetune.evaluation import evaluate, predict, write_test_predictions
from bench.jobs.finetune.hparams import finetune_arch, finetune_hparams, head_dropout
from bench.jobs.finetune.job import finetune, fit, fit_trainer, prepare, score
from bench.jobs.finetune.restart import HISTORY_FILE, LAST_CKPT, JobCheckpoint, ResumableWandbLogger
from bench.jobs.finetune.weights import load_encoder_state, state_mismatch, trained_module

__all__ = [
    "HISTORY_FILE", "LAST_CKPT", "JobCheckpoint", "ResumableWandbLogger", "evaluate", "finetune", "finetune_arch",
    "finetune_hparams", "fit", "fit_trainer", "head_dropout", "load_encoder_state", "predict", "prepare", "score",
    "state_mismatch", "trained_module", "write_test_predictions",
]
