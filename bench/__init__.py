"""Benchmarks for canvas_oauth: run them with ``make bench`` (see bench/run_all.py)."""
