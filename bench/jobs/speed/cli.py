"""`bench-speed` (and `python -m bench.jobs.speed`): `bench-run` with job_type=speed and task=stsb unless given.

Examples:
    bench-speed                                  # BERT-base, tiny profile (100 pairs, fp32)
    bench-speed model=distilbert_base profile=paper data.source=hub
"""

from __future__ import annotations

import sys


def main() -> None:
    given = {a.split("=", 1)[0].lstrip("+~") for a in sys.argv[1:] if "=" in a}
    sys.argv += [o for o, key in (("job_type=speed", "job_type"), ("task=stsb", "task")) if key not in given]
    from bench.jobs.run import main as run_main  # at call time: importing this package does not load the app

    run_main()
