"""``simutrador bench``: the speed and capacity figures of DESIGN §9, measured the same way everywhere.

`runner.run` drives the suite (in-process workloads from `inprocess`, whole
simulations and their baselines from `simulation`, over-the-wire loads from `wire`
against a server process from `serverproc`) and returns a `report.Report`: a table
next to each target, JSON in pytest-benchmark's format, and a comparison of two runs.
``benchmarks/`` times the same workloads under pytest-benchmark.
"""
