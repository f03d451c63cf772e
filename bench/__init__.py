"""Benchmarks: measured side by side in one run, results written to docs/benchmarks.md."""
