"""Corpus stage: read, normalise, check scripts, identify language, clean, deduplicate and count
(`emma corpus build`, datatrove pipelines); pack documents into token shards and plan the mix
(`emma corpus pack` / `mix`). Writes documents JSONL and shard folders that `emma train` reads."""

from emma.corpus.build import BuildConfig, build, load_build_config

__all__ = ["BuildConfig", "build", "load_build_config"]
