"""Benchmarks: `make bench` (bench/run.py) runs them all; each also runs alone (`python -m bench.NAME`)."""
