"""Benchmark scripts (`python -m bench.benchmarks.<name>`): they print figures, never assert."""
