"""Pretraining data: documents -> tokenized sentences -> examples -> masked batches.

    docs = tokenize_documents(load_corpus(cfg.data, "en"), tokenizer)      # tokenized.py
    dataset, collator = build_for_objective(objective, docs, special, vocab_size, seed)  # dataset.py
    loader = pretraining_dataloader(dataset, collator, batch_size, seed=seed)

examples.py builds the input formats (SEGMENT-PAIR, SENTENCE-PAIR, FULL-SENTENCES, DOC-SENTENCES)
and sentence objectives (NSP, SOP, none); dataset.py masks them statically or in the collator.
"""

from bench.data.pretraining.dataset import (
    PretrainingCollator,
    PretrainingDataset,
    build_for_objective,
    build_pretraining_dataset,
    pretraining_dataloader,
)
from bench.data.pretraining.examples import PretrainingExample, build_examples
from bench.data.pretraining.tokenized import TokenizedSentence, tokenize_documents
from bench.data.tokenizer import SpecialIds
from lightning_modules.inputs import INPUT_FORMATS, MASKING_MODES, SENTENCE_TASKS

__all__ = [
    "INPUT_FORMATS",
    "SENTENCE_TASKS",
    "MASKING_MODES",
    "SpecialIds",
    "TokenizedSentence",
    "PretrainingExample",
    "tokenize_documents",
    "build_examples",
    "PretrainingDataset",
    "build_pretraining_dataset",
    "build_for_objective",
    "PretrainingCollator",
    "pretraining_dataloader",
]
