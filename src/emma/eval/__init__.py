"""Evaluation stage: `emma eval`, tasks x languages x models, per-sample JSONL and scores.json
(the files `emma report` reads)."""

from emma.eval.harness import evaluate

__all__ = ["evaluate"]
