"""Hydra composition: every model config composes and is validated by the structured schema."""

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from bench.config.compose import compose_config, model_names
from bench.config.schema import encoder_config


@pytest.mark.parametrize("name", model_names())
def test_every_model_config_composes(name):
    cfg = compose_config([f"model={name}"])
    enc = encoder_config(cfg.model)
    assert enc.hidden_size % enc.num_heads == 0
    assert cfg.model.name


def _error_text(overrides):
    with pytest.raises((ConfigCompositionException, ValidationError)) as err:
        compose_config(overrides)
    e = err.value
    return "\n".join(str(x) for x in (e, e.__cause__) if x is not None)


def test_bad_sharing_value_names_key_and_choices():
    text = _error_text(["model.sharing=foo"])
    assert "model.sharing" in text and "none, attention, ffn, all" in text


def test_unknown_model_key_is_named():
    assert "hiddn_size" in _error_text(["model.hiddn_size=64"])


def test_wrong_type_is_named():
    text = _error_text(["model.num_layers=deep"])
    assert "model.num_layers" in text
