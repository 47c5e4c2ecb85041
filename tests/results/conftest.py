from pathlib import Path

import pytest

from tests.results.report_support import write_sharing_runs


@pytest.fixture
def runs(tmp_path) -> Path:
    """Synthetic albert_sharing runs under `<tmp>/multirun` (see report_support.write_sharing_runs)."""
    return write_sharing_runs(tmp_path / "multirun")
