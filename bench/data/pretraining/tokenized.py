"""Tokenizing a corpus for pretraining: documents of sentences -> token ids with corpus-wide word ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.data.masking import jieba_word_ids

Token = tuple[int, int]  # (token id, corpus-wide word id)


@dataclass
class TokenizedSentence:
    ids: list[int]
    words: list[int]  # corpus-wide word ids: unique across sentences, so packing never merges words

    def tokens(self) -> list[Token]:
        return list(zip(self.ids, self.words))


def tokenize_documents(
    documents: Sequence[Sequence[str]], tokenizer, language: str = "en"
) -> list[list[TokenizedSentence]]:
    """Tokenize documents (lists of sentences) without special tokens, keeping word ids.

    English words come from the fast tokenizer's `word_ids` (its pre-tokenizer's words, so any
    tokenizer works); Chinese words from jieba over each sentence, mapped to the character tokens
    through their offsets. Empty sentences and documents are dropped.
    """
    if language not in ("en", "zh"):
        raise ValueError(f"language must be 'en' or 'zh', got {language!r}")
    out: list[list[TokenizedSentence]] = []
    next_word = 0
    for document in documents:
        if isinstance(document, str):
            raise TypeError("a document must be a list of sentences, got a str")
        sentences = [s for s in document if s and s.strip()]
        encodings = tokenizer.encode_batch(sentences, add_special_tokens=False) if sentences else []
        doc: list[TokenizedSentence] = []
        for text, enc in zip(sentences, encodings):
            if not enc.ids:
                continue
            local = enc.word_ids if language == "en" else jieba_word_ids(text, enc.offsets)
            # Renumber to corpus-wide ids; a token without a word (None) becomes its own word.
            remap: dict[int, int] = {}
            words = []
            for w in local:
                if w is None:
                    words.append(next_word)
                    next_word += 1
                    continue
                if w not in remap:
                    remap[w] = next_word
                    next_word += 1
                words.append(remap[w])
            doc.append(TokenizedSentence(list(enc.ids), words))
        if doc:
            out.append(doc)
    return out

