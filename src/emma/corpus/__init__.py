"""Corpus sources and preparation."""
