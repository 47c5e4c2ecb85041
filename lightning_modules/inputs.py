"""What the models read, shared with the data side (`bench.data` imports these, never the reverse).

- `IGNORE_INDEX`: the label of a position or example that is not predicted (PyTorch's cross-entropy
  default); the masking and the sentence-level labels write it, the losses skip it.
- The recipe vocabularies of `conf/objective/` (RoBERTa paper, section 4.2): the input formats, the
  sentence-level tasks and the masking modes an `ObjectiveConfig` may name.
"""

IGNORE_INDEX = -100

INPUT_FORMATS = ("segment_pair", "sentence_pair", "full_sentences", "doc_sentences")
PAIR_FORMATS = ("segment_pair", "sentence_pair")
SENTENCE_TASKS = ("nsp", "sop", "none")
MASKING_MODES = ("static", "dynamic", "wwm_en", "wwm_zh", "none")
