"""Composing the Hydra tree outside a Hydra app (census, report, tests)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from bench.config.schema import register_configs
from bench.io import CONF_DIR


@contextmanager
def hydra_context() -> Iterator[None]:
    register_configs()
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield


def compose_config(overrides: Sequence[str] = (), config_name: str = "config", return_hydra_config: bool = False) -> DictConfig:
    with hydra_context():
        return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def model_names() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))


def plain(node) -> dict:
    """A config node as a plain dict ({} for a missing or empty node)."""
    if node is None:
        return {}
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)


def sweep_params(experiment: str, profile: str, conf_dir: Path = CONF_DIR) -> dict[str, str]:
    """An experiment's `hydra.sweeper.params` as its sweep runs at `profile`, read from the files (no composition):
    a value may name a profile setting (`task: ...,${profile.race_task}`), resolved as Hydra resolves it."""
    params = OmegaConf.load(conf_dir / "experiment" / f"{experiment}.yaml").hydra.sweeper.params
    prof = OmegaConf.load(conf_dir / "profile" / f"{profile}.yaml").get("profile")
    tree = OmegaConf.create({"profile": prof, "params": params})
    return {str(k): str(v) for k, v in OmegaConf.to_container(tree.params, resolve=True).items()}
