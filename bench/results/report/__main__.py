import sys

from bench.results.report.cli import main

sys.exit(main())
