"""Tracked benchmarks (asv: bench_*.py; pytest-benchmark: test_*.py). See docs/perf_python_hist.md."""
