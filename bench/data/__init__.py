"""The data layer: task specs, the synthetic world, loaders, tokenizers, features, batching.

    spec = load_task_spec("mnli")                       # conf/task/mnli.yaml as a TaskSpec
    raw = load_task(cfg.task, cfg.data)                 # DatasetDict, hub split names
    docs = load_corpus(cfg.data, "en")                  # [[sentence, ...], ...] per document
    tok = get_tokenizer(cfg.data, "en"); ids = special_ids(tok)
    feats = build_features(cfg.task, cfg.data, tok, "train", max_length=128)
    loader = make_dataloader(feats, 32, shuffle=True, seed=0, pad_id=ids.pad)
"""

from bench.data.batching import make_dataloader, padding_ratio
from bench.data.features import build_features
from bench.data.loading import load_corpus, load_task
from bench.data.specs import TaskSpec, load_task_spec, task_names
from bench.data.tokenizer import SpecialIds, get_tokenizer, special_ids

__all__ = [
    "SpecialIds", "TaskSpec", "build_features", "get_tokenizer", "load_corpus", "load_task", "load_task_spec",
    "make_dataloader", "padding_ratio", "special_ids", "task_names",
]
