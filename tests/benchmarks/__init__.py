"""Benchmarks (`make bench` = `python -m tests.benchmarks`), not part of `make test`.

Modules named `bench_*.py` each have a `main()` printing one JSON line per figure. They run against
their own database (`wagateway_bench`) and Redis db 14, on loopback only, with bounded load loops.
"""
