import pytest

from bench.data import get_tokenizer


@pytest.fixture(scope="module")
def cfg(synthetic_world):
    """The session's synthetic world (its `data` config): read it, never change it."""
    return synthetic_world


@pytest.fixture(scope="module")
def tok(cfg):
    return get_tokenizer(cfg, "en")
