"""W&B lineage: a stored encoder -> the fine-tuning runs that used it -> their prediction files.

- The job that trains a store entry logs it as a `model` artifact named `encoder-<store key>` (its files
  referenced in place, `policy="immutable"`: a store entry never changes, so nothing is copied to W&B's
  staging area; `wandb sync` uploads them).
- Every run that uses a stored encoder names it in its config (`encoder_artifact`, `encoder_store_key`:
  filterable in a dashboard) and, online, declares it with `use_artifact`, so W&B's lineage graph links
  encoder -> fine-tuning runs (-> the report run, which uses nothing but their summaries).
- A fine-tuning run's prediction files are a run artifact, `predictions-<run id>`.

Offline (wandb 0.31), `log_artifact` is recorded in the run file and uploaded by `wandb sync`; but
`use_artifact` raises offline ("Cannot use artifact when in offline mode"), and a synced offline run does
not gain it: there the config reference is the link (bench.results.runfile reads both).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

ENCODER_TYPE = "model"
PREDICTIONS_TYPE = "predictions"


def encoder_artifact_name(store_key: str) -> str:
    return f"encoder-{store_key}"


def _metadata(entry: Path) -> dict:
    """What the entry is: the store key's parts (model, recipe, data identity, seed) from its config.json."""
    try:
        meta = json.loads((entry / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    parts = meta.get("key_parts") or {}
    return {"store_key": meta.get("key"), "model": parts.get("model"), "objective": parts.get("objective"),
            "seed": parts.get("seed"), "language": parts.get("language"), "created": meta.get("created")}


def log_encoder(run, entry: Path) -> str:
    """Log the store entry `entry` (trained by this run's job) as a model artifact; its name."""
    import wandb

    entry = Path(entry)
    name = encoder_artifact_name(entry.name)
    art = wandb.Artifact(name, type=ENCODER_TYPE, metadata=_metadata(entry),
                         description="a pretrained encoder of the checkpoint store (bench/store/checkpoints.py)")
    for path in sorted(p for p in entry.iterdir() if p.is_file()):
        art.add_file(str(path), policy="immutable")
    run.log_artifact(art)
    return name


def use_encoder(run, entry: Path, logged_here: bool) -> None:
    """Record that this run's encoder is the store entry `entry`: in the config always; online also as
    `use_artifact` (unless this run logged it). A server without the artifact (its producer still
    offline, not synced) only costs the declaration: one warning, the job goes on."""
    entry = Path(entry)
    name = encoder_artifact_name(entry.name)
    run.config.update({"encoder_artifact": name, "encoder_store_key": entry.name}, allow_val_change=True)
    if logged_here or run.offline:
        return
    try:
        run.use_artifact(f"{name}:latest", type=ENCODER_TYPE)
    except Exception as e:  # noqa: BLE001 - wandb raises CommError / ValueError by server state
        log.warning("W&B lineage: cannot declare %s as this run's input (%s); its config names it",
                    name, str(e).splitlines()[0] if str(e) else type(e).__name__)


def log_predictions(run, directory: Path) -> str | None:
    """The run's prediction files as one artifact (None when there are none)."""
    import wandb

    files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
    if not files:
        return None
    name = f"predictions-{run.id}"
    art = wandb.Artifact(name, type=PREDICTIONS_TYPE, metadata={"files": [p.name for p in files]})
    for path in files:
        art.add_file(str(path), name=str(path.relative_to(directory)))
    run.log_artifact(art)
    return name
