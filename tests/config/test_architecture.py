"""The architecture a job trains: profile sizes everywhere except the table's axis."""

import pytest
from omegaconf import OmegaConf

from bench.config.architecture import effective_encoder_config
from bench.jobs.tracking import run_name


def _cfg(model: dict, axis: list, profile_model: dict, axis_scale: dict | None = None):
    base = {"vocab_size": 30000, "embedding_size": 128, "hidden_size": 1024, "num_layers": 24, "num_heads": 16,
            "intermediate_size": 4096, "sharing": "all", "activation": "gelu_new"}
    return OmegaConf.create({"model": {**base, **model}, "axis": axis,
                             "profile": {"model": profile_model, "axis_scale": axis_scale or {}}})


TINY = {"embedding_size": 64, "hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 256}


def test_axis_keys_keep_their_values_others_take_the_profile():
    cfg = _cfg({"embedding_size": 768, "sharing": "attention"}, ["embedding_size", "sharing"], TINY)
    arch = effective_encoder_config(cfg, vocab_size=500)
    assert (arch.embedding_size, arch.sharing) == (768, "attention")
    assert (arch.hidden_size, arch.num_layers, arch.vocab_size) == (64, 2, 500)


def test_width_axis_is_scaled():
    cfg = _cfg({"hidden_size": 6144, "intermediate_size": 24576, "num_heads": 96},
               ["hidden_size", "intermediate_size", "num_heads"], TINY,
               {"hidden_size": 0.0625, "intermediate_size": 0.0625, "num_heads": 0.0625})
    arch = effective_encoder_config(cfg)
    assert (arch.hidden_size, arch.intermediate_size, arch.num_heads) == (384, 1536, 6)


def test_paper_profile_changes_nothing():
    cfg = _cfg({}, [], {})
    assert effective_encoder_config(cfg).hidden_size == 1024


@pytest.mark.parametrize("axis, profile, needle", [(["hiden_size"], {}, "axis key 'hiden_size'"),
                                                   ([], {"layers": 2}, "profile.model.layers")])
def test_bad_keys_are_named(axis, profile, needle):
    with pytest.raises(KeyError, match=needle):
        effective_encoder_config(_cfg({}, axis, profile))


def test_run_name_is_built_from_overrides():
    name = run_name(["experiment=albert_sharing", "task=mnli", "model.sharing=all", "+cell=x", "seed=1"], "finetune")
    assert name == "finetune:cell=x,model.sharing=all,seed=1,task=mnli"


def test_depth_axis_is_mapped_and_an_unmapped_value_is_named():
    maps = {"num_layers": {1: 1, 3: 2, 6: 3, 12: 4, 24: 6, 48: 8}}
    depths = []
    for layers in (1, 3, 6, 12, 24, 48):
        cfg = _cfg({"num_layers": layers}, ["num_layers", "sharing"], TINY)
        cfg.profile.axis_map = maps
        depths.append(effective_encoder_config(cfg).num_layers)
    assert depths == [1, 2, 3, 4, 6, 8]
    cfg = _cfg({"num_layers": 36}, ["num_layers"], TINY)
    cfg.profile.axis_map = maps
    with pytest.raises(KeyError, match="profile.axis_map.num_layers has no entry for num_layers=36"):
        effective_encoder_config(cfg)
