"""Pretraining data: documents -> tokenized sentences -> examples -> masked batches.

    docs = tokenize_documents(load_corpus(cfg.data, "en"), tokenizer)      # tokenized.py
    data = build_for_objective(objective, docs, special, vocab_size, seed)  # dataset.py: train, val, collators
    loader = pretraining_dataloader(data.train, data.collator, batch_size, seed=seed)  # resumable mid-epoch

examples.py builds the input formats (SEGMENT-PAIR, SENTENCE-PAIR, FULL-SENTENCES, DOC-SENTENCES)
and sentence objectives (NSP, SOP, none); dataset.py holds out documents, then masks the rest
statically or in the collator.
"""

from bench.data.pretraining.dataset import (
    PretrainingCollator,
    PretrainingData,
    PretrainingDataset,
    ResumableDataLoader,
    build_for_objective,
    build_pretraining_dataset,
    pretraining_dataloader,
    split_documents,
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
    "PretrainingData",
    "split_documents",
    "build_pretraining_dataset",
    "build_for_objective",
    "PretrainingCollator",
    "pretraining_dataloader",
    "ResumableDataLoader",
]
