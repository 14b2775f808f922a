"""Benchmarks for trio-ockam portals, each beside baselines measured in the same run.

Run from the repository root: ``python -m benchmarks.portal_bench [--quick]``.
See docs/benchmarks.md.
"""
