"""Hugging Face checkpoints in and out of our one encoder (BERT, ALBERT, RoBERTa, DistilBERT).

`names` holds the per-family weight-name tables that import (`load`) and export (`export`) share, `config`
maps config.json to EncoderConfig and back, `tokenizer` gives a checkpoint's own tokenizer (converting slow
files with `transformers`), `reference` builds a `transformers` twin. Only those two need `transformers`,
imported when called.

What our encoder cannot reproduce exactly, and how it is handled:
- RoBERTa numbers positions from the input ids (pad tokens get position `pad_token_id`, the
  others count up from `pad_token_id + 1` skipping pads); ours numbers them 2, 3, ... by index.
  Both agree on every non-pad token of a right-padded batch (the suite's collators pad right);
  pad tokens' own hidden states differ, and are masked out of attention in both.
- ALBERT with E == H still has an E -> H projection in Hugging Face; ours has none. Import accepts
  it only when it is the identity (which export writes), else it is an error.
- DistilBERT's LayerNorm eps is fixed at 1e-12 and its sinusoidal position option is stored as
  ordinary weights (imported as such; ours would train them).
"""

from lightning_modules.hf.config import encoder_config_from_hf, hf_config_dict, infer_family, parse_init
from lightning_modules.hf.export import export_hf_checkpoint
from lightning_modules.hf.load import HFImport, load_hf_checkpoint, read_weights, resolve_checkpoint_dir
from lightning_modules.hf.names import FAMILIES, HFCheckpointError
from lightning_modules.hf.reference import INSTALL_HINT, hf_reference_model, require_transformers
from lightning_modules.hf.tokenizer import LOOKED_FOR, CheckpointTokenizer, checkpoint_tokenizer

__all__ = [
    "FAMILIES",
    "LOOKED_FOR",
    "CheckpointTokenizer",
    "INSTALL_HINT",
    "HFCheckpointError",
    "HFImport",
    "encoder_config_from_hf",
    "export_hf_checkpoint",
    "hf_config_dict",
    "checkpoint_tokenizer",
    "hf_reference_model",
    "infer_family",
    "load_hf_checkpoint",
    "parse_init",
    "read_weights",
    "require_transformers",
    "resolve_checkpoint_dir",
]
