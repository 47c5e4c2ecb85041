"""A Hugging Face twin of our architecture: a randomly initialised `transformers` model built from the
config.json we would export, for the ours-vs-HF speed comparison and the parameter census. The only part
of the package that needs `transformers`, imported when called so that import and export work without it.
"""

from __future__ import annotations

from typing import Any

import torch

from lightning_modules.encoder import EncoderConfig
from lightning_modules.hf.config import hf_config_dict, infer_family
from lightning_modules.hf.names import HF_CLASS_PREFIX

INSTALL_HINT = "pip install -e '.[hf]'"


def require_transformers() -> Any:
    try:
        import transformers
    except ImportError as e:
        raise ImportError(f"this needs Hugging Face transformers: {INSTALL_HINT}") from e
    return transformers


def hf_reference_model(cfg: EncoderConfig, family: str | None = None, mlm: bool = False) -> torch.nn.Module:
    """A randomly initialised HF model of our architecture: the base model (with our pooler choice), or *ForMaskedLM."""
    transformers = require_transformers()
    family = family or infer_family(cfg)
    d = hf_config_dict(cfg, family, mlm=mlm)
    d.pop("architectures")
    config = transformers.AutoConfig.for_model(d.pop("model_type"), **d)
    if mlm:
        return transformers.AutoModelForMaskedLM.from_config(config)
    cls = getattr(transformers, f"{HF_CLASS_PREFIX[family]}Model")
    return cls(config) if family == "distilbert" else cls(config, add_pooling_layer=cfg.pooler)
