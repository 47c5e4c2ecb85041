"""What a run ran on, for its W&B config (`env.*`): CPU model, cores, torch threads, GPU, library versions.

A timing or throughput is only comparable with the machine beside it (optimum-benchmark puts the same in
every report). Never part of a job's fingerprint: the same job on another machine is the same job.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

LIBRARIES = ("torch", "lightning", "transformers", "wandb", "datasets", "tokenizers", "hydra-core")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict:
    import torch

    gpu = None
    if torch.cuda.is_available():
        gpu = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        **{name.replace("-", "_"): _version(name) for name in LIBRARIES},
    }
