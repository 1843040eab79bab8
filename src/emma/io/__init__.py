"""Files in and out: atomic writes, one reader per format, and the guard that keeps one run per folder."""

from emma.io.atomic import append_jsonl, atomic_dir, atomic_path, ensure_writable_dir, scratch_path, write_json, write_jsonl, write_text
from emma.io.readers import (
    jsonl_records,
    read_documents,
    read_json_or_jsonl,
    read_jsonl,
    read_lines,
    read_sib_tsv,
    read_text,
    read_text_dir,
    read_tsv,
)
from emma.io.rundir import claim_run_dir

__all__ = [
    "append_jsonl",
    "atomic_dir",
    "atomic_path",
    "scratch_path",
    "claim_run_dir",
    "ensure_writable_dir",
    "jsonl_records",
    "read_documents",
    "read_json_or_jsonl",
    "read_jsonl",
    "read_lines",
    "read_sib_tsv",
    "read_text",
    "read_text_dir",
    "read_tsv",
    "write_json",
    "write_jsonl",
    "write_text",
]
