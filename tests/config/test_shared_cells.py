"""`make tables` runs a job two tables share once (the Makefile's TABLE_ARGS narrows the later table's sweep; its
report spec's `runs.also_from` reads the earlier table's runs): what it leaves out must be the earlier table's jobs,
composed to the same config but for the experiment's name, and rows of the later table's report."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from bench.benchmarks import tables_runs
from bench.benchmarks.cost import sweep_overrides
from bench.benchmarks.tables_runs import tables_order, tables_sweep_args
from bench.config.compose import compose_config
from bench.io import CONF_DIR
from bench.jobs.console import sweep_jobs
from bench.results.report.spec import load_spec

NARROWED = tables_sweep_args()
PROFILES = sorted(p.stem for p in (CONF_DIR / "profile").glob("*.yaml"))


def test_make_tables_narrows_albert_sharing():
    assert NARROWED == {"albert_sharing": {"model.sharing": "attention,ffn"}}


@pytest.mark.parametrize("experiment", sorted(NARROWED))
def test_hydra_launches_the_narrowed_sweep_the_cost_benchmark_counts(experiment):
    # the command line `make tables` gives bench-run, as Hydra checks it in a multirun and the console expands it
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import ConfigCompositionException
    from hydra.types import RunMode

    args = [w.partition(":")[2] for w in tables_runs._makefile_words("TABLE_ARGS") if w.startswith(f"{experiment}:")]
    parser = OverridesParser.create()
    ConfigLoaderImpl.validate_sweep_overrides_legal(parser.parse_overrides(args), RunMode.MULTIRUN, from_shell=True)
    with pytest.raises(ConfigCompositionException, match="Sweeping over Hydra's configuration"):  # what make tables met
        ConfigLoaderImpl.validate_sweep_overrides_legal(
            parser.parse_overrides([f"hydra.sweeper.params.{a}" for a in args]), RunMode.MULTIRUN, from_shell=True)
    command = [f"experiment={experiment}", "profile=tiny"]
    cfg = compose_config(command, return_hydra_config=True)
    jobs = sweep_jobs(OmegaConf.merge(cfg, {"hydra": {"overrides": {"task": command + args}}}))
    launched = [[o for o in job if o not in command] for job in jobs]
    assert launched == sweep_overrides(experiment, "tiny", None, narrow=NARROWED[experiment])
    assert len(launched) < len(sweep_overrides(experiment, "tiny", None))


def test_table_args_must_name_a_key_of_the_sweep_not_hydras(tmp_path, monkeypatch):
    # Hydra refuses `hydra.sweeper.params.<key>=a,b` in a multirun, and only once `make tables` reaches that table:
    # the tests refuse it first
    monkeypatch.setattr(tables_runs, "REPO_ROOT", tmp_path)
    (tmp_path / "Makefile").write_text("TABLE_ARGS := albert_sharing:hydra.sweeper.params.model.sharing=attention,ffn\n")
    with pytest.raises(ValueError, match="TABLE_ARGS: .*hydra.sweeper.params.model.sharing"):
        tables_sweep_args()
    (tmp_path / "Makefile").write_text("TABLE_ARGS := albert_sharing:model.shareing=attention\n")
    with pytest.raises(ValueError, match="'model.shareing' is not a key of conf/experiment/albert_sharing.yaml"):
        tables_sweep_args()
    (tmp_path / "Makefile").write_text("TABLE_ARGS := albert_shareing:model.sharing=attention\n")
    with pytest.raises(ValueError, match="no conf/experiment/albert_shareing.yaml"):
        tables_sweep_args()


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("experiment", sorted(NARROWED))
def test_the_jobs_left_out_are_the_earlier_tables_and_rows_of_this_report(experiment, profile):
    spec = load_spec(experiment)
    others = spec["runs"]["also_from"]
    assert others, f"conf/report/{experiment}.yaml must read the runs it leaves out (runs.also_from)"
    order = tables_order()
    assert all(order.index(o) < order.index(experiment) for o in others)  # they have run when this table runs
    full = {frozenset(j) for j in sweep_overrides(experiment, profile, None)}
    kept = {frozenset(j) for j in sweep_overrides(experiment, profile, None, narrow=NARROWED[experiment])}
    left_out = full - kept
    assert left_out and kept < full
    theirs = {frozenset(j) for o in others for j in sweep_overrides(o, profile, None)}
    assert left_out <= theirs
    for job in left_out:  # and the report's `where` keeps them
        values = dict(o.split("=", 1) for o in job)
        assert all(values[k] in [str(x) for x in v] for k, v in spec["runs"]["where"].items())


@pytest.mark.parametrize("experiment", sorted(NARROWED))
def test_a_shared_job_composes_to_the_same_config_but_the_experiments_name(experiment):
    spec = load_spec(experiment)
    full = sweep_overrides(experiment, "tiny", None)
    kept = {frozenset(j) for j in sweep_overrides(experiment, "tiny", None, narrow=NARROWED[experiment])}
    job = next(j for j in full if frozenset(j) not in kept)
    other = next(o for o in spec["runs"]["also_from"]
                 if frozenset(job) in {frozenset(j) for j in sweep_overrides(o, "tiny", None)})
    a, b = (OmegaConf.to_container(compose_config([f"experiment={e}", "profile=tiny", *job]))
            for e in (experiment, other))
    assert (a.pop("experiment"), b.pop("experiment")) == (experiment, other)
    assert a == b
