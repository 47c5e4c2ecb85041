"""One small synthetic world per test session, shared by the tests that only read it.

conftest.py imports the fixture (`from tests.support.world import synthetic_world`), so every test module gets
the same instance; a module importing it itself would get its own.
"""

import pytest

SIZES = {"train": 90, "eval": 30, "test": 12, "corpus": {"en": 150, "zh": 80}, "overrides": {"stsb": {"validation": 45}}}


@pytest.fixture(scope="session")
def synthetic_world(tmp_path_factory) -> dict:
    """The `data` config (a plain dict) of a world written once, in its own cache: tokenizers and
    features that tests build land there too. Change a copy (`{**cfg, ...}`), never the dict."""
    from bench.data.synthetic import ensure_synthetic

    cfg = small_data_cfg(tmp_path_factory.mktemp("world"), SIZES)
    ensure_synthetic(cfg)
    return cfg


def small_data_cfg(cache_dir, sizes: dict, **changes) -> dict:
    """The default `data` config as a plain dict, with its own cache dir and split sizes."""
    from omegaconf import OmegaConf

    from bench.config.compose import compose_config

    cfg = OmegaConf.to_container(compose_config([]).data, resolve=True)
    cfg.update({"cache_dir": str(cache_dir), "sizes": sizes, **changes})
    return cfg
