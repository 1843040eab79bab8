"""Evaluation: intrinsic NLL now; the benchmark suite plugs in beside it."""
