"""One reader per input format. Every reader turns a bad file into one `EmmaError` line naming
the file (and line) and what to do: missing file, invalid UTF-8, malformed JSON line or TSV row.

`what` prefixes the message with the setting or task the file came from (`xcopa: ...`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from emma.errors import EmmaError


def _prefix(what: str | None) -> str:
    return f"{what}: " if what else ""


def read_text(path: str | Path, what: str | None = None) -> str:
    """A whole UTF-8 file."""
    path = Path(path)
    if not path.is_file():
        raise EmmaError(f"{_prefix(what)}{path}: file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise EmmaError(f"{_prefix(what)}{path} is not valid UTF-8 (byte {exc.start}); re-encode it as UTF-8") from None


def read_lines(path: str | Path, what: str | None = None) -> list[str]:
    """`<code>.txt` files: one segment or document per non-empty line, stripped."""
    return [line.strip() for line in read_text(path, what).splitlines() if line.strip()]


def jsonl_records(path: str | Path) -> Iterator[tuple[int, bytes, dict | Exception]]:
    """(line number, raw line, parsed object or the reason it is not one) for every non-blank line.
    The one JSONL parser: `read_jsonl` raises on the first bad line, the corpus reader rejects it."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield n, raw, exc
                continue
            yield n, raw, row if isinstance(row, dict) else TypeError("not a JSON object")


def describe(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg})"
    return str(exc)


def read_jsonl(path: str | Path, what: str | None = None, *, tolerate_partial_tail: bool = False) -> list[dict]:
    """JSON lines, each an object. A bad line is an error naming file and line, except a torn last
    line of an append-only log (`tolerate_partial_tail`), which a kill can leave behind."""
    path = Path(path)
    if not path.is_file():
        raise EmmaError(f"{_prefix(what)}{path}: file not found")
    rows: list[dict] = []
    records = list(jsonl_records(path))
    for k, (n, _, row) in enumerate(records):
        if isinstance(row, Exception):
            if tolerate_partial_tail and k == len(records) - 1 and not isinstance(row, TypeError):
                break
            raise EmmaError(f"{_prefix(what)}{path}:{n} is {describe(row)}; fix or remove that line")
        rows.append(row)
    return rows


def read_json_or_jsonl(path: str | Path, what: str | None = None) -> list[dict]:
    """A JSON list of objects (okapi's files) or JSON lines."""
    path = Path(path)
    text = read_text(path, what)
    if not text.lstrip().startswith("["):
        return read_jsonl(path, what)
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EmmaError(f"{_prefix(what)}{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not all(isinstance(r, dict) for r in rows):
        raise EmmaError(f"{_prefix(what)}{path} must be a list of JSON objects")
    return rows


def read_tsv(path: str | Path, what: str | None = None, fieldnames: list[str] | None = None, required: tuple[str, ...] = ()) -> list[dict]:
    """Tab-separated rows (a header line unless `fieldnames` is given); quotes are plain text (the
    SIB-200/FLORES layout, CSV-quoted, has its own reader: `read_sib_tsv`)."""
    path = Path(path)
    if not path.is_file():
        raise EmmaError(f"{_prefix(what)}{path}: file not found")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, fieldnames=fieldnames, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as exc:
        raise EmmaError(f"{_prefix(what)}{path} is not valid UTF-8 (byte {exc.start}); re-encode it as UTF-8") from None
    first = 1 if fieldnames else 2
    for n, row in enumerate(rows, first):
        if None in row or any(not (row.get(k) or "").strip() for k in required):
            raise EmmaError(f"{_prefix(what)}{path}:{n} is malformed: need tab-separated {', '.join(required)}")
    return rows


def read_text_dir(root: str | Path, what: str) -> dict[str, list[str]]:
    """A folder of `<code>.txt` (one document per non-empty line) and/or `<code>/*.txt` (one document
    per file), as {code as written: documents}. Codes are the caller's to normalise."""
    root = Path(root)
    if not root.is_dir():
        raise EmmaError(f"{what} {root} is not a folder of <xxx_Scrp>.txt files")
    docs: dict[str, list[str]] = {}
    for path in sorted(root.iterdir()):
        if path.suffix == ".txt" and path.is_file():
            docs.setdefault(path.stem, []).extend(read_lines(path, what))
        elif path.is_dir():
            docs.setdefault(path.name, []).extend(t for t in (read_text(p, what).strip() for p in sorted(path.glob("*.txt"))) if t)
    if not docs:
        raise EmmaError(f"{what} {root} has no <xxx_Scrp>.txt files or <xxx_Scrp>/ folders")
    return docs


def document_files(path: str | Path, what: str) -> list[Path]:
    """A documents JSONL file, or the `*.jsonl` files under a folder, sorted."""
    path = Path(path)
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise EmmaError(f"{what}: {path} is not a JSONL file or a folder of them")
    return files


def file_documents(f: Path, what: str) -> Iterator[tuple[int, str, str, str]]:
    """(line number, code as written, source, text) for each non-empty document of one documents
    JSONL file, streamed; a line without text and language is an error naming it."""
    for n, _, row in jsonl_records(f):
        if isinstance(row, Exception):
            raise EmmaError(f"{what}: {f}:{n} is {describe(row)}; fix or remove that line")
        meta = m if isinstance(m := row.get("metadata"), dict) else {}
        text, lang = row.get("text"), row.get("lang") or meta.get("lang")
        if not isinstance(text, str) or not lang:
            raise EmmaError(f"{what}: {f}:{n}: need a JSON object with `text` and `lang`")
        if text.strip():
            yield n, str(lang), str(row.get("source") or meta.get("source") or f.stem), text


def read_documents(path: str | Path, what: str) -> dict[str, list[tuple[str, str]]]:
    """emma's documents format, as `emma corpus build` writes it and `emma corpus pack` / `emma
    train` read it: JSON lines with `text` and `lang` (or both inside `metadata`, datatrove's
    layout) and optionally `source`; a file or a folder of `*.jsonl`. Returns {code as written:
    [(source, text)]}, empty texts skipped; a line without text and language is an error."""
    docs: dict[str, list[tuple[str, str]]] = {}
    for f in document_files(path, what):
        for _, lang, source, text in file_documents(f, what):
            docs.setdefault(lang, []).append((source, text))
    if not docs:
        raise EmmaError(f"{what}: no documents in {path}")
    return docs


COLUMNS = ("index_id", "category", "text")
# pandas' default `na_values` (pandas._libs.parsers.STR_NA_VALUES): read_csv makes these fields NaN
PANDAS_NA = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)


def read_sib_tsv(path: str | Path, what: str, *, header: bool = True, skip_bad_lines: bool = False, pandas_na: bool = True) -> list[dict]:
    """The SIB-200/FLORES layout (CSV-quoted TSV: 7,688 of its 205,820 texts use `""` quoting), read
    as `pd.read_csv(path, delimiter="\\t", index_col="index_id")` reads it: the rows it keeps, in order, as dicts of
    `COLUMNS` (`header`: from the first line, else `names=COLUMNS`); `skip_bad_lines`: pandas'
    `engine="python", on_bad_lines="skip"` (Python's csv module in strict mode, a record it refuses
    skipped, a row with too many fields skipped), else its C reader (a row with too many fields is
    an error). `pandas_na`: NA strings and missing fields are None (pandas' NaN); without it (emma's
    own reading of the headerless layout) an empty or missing field is an error."""
    path = Path(path)
    if not path.is_file():
        raise EmmaError(f"{what}: {path}: file not found")
    fields: list[str] | None = None if header else list(COLUMNS)
    first_len: int | None = None
    rows: list[dict] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quotechar='"', doublequote=True, quoting=csv.QUOTE_MINIMAL, strict=skip_bad_lines)
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    if skip_bad_lines:
                        continue
                    raise EmmaError(f"{what}: {path}:{reader.line_num}: {exc}") from None
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # pandas' skip_blank_lines: an empty line, or one of spaces
                if fields is None:
                    fields = record
                    missing = [c for c in COLUMNS if c not in fields]
                    if missing:
                        raise EmmaError(f"{what}: {path}: the header has no {', '.join(missing)} column")
                    continue
                if first_len is None:
                    first_len = len(record)
                    if len(record) > len(fields):
                        raise EmmaError(
                            f"{what}: {path}:{reader.line_num}: the first row has {len(record)} fields, not {len(fields)} (pandas fails here too)"
                        )
                if len(record) > len(fields):
                    if skip_bad_lines:
                        continue
                    raise EmmaError(f"{what}: {path}:{reader.line_num}: expected {len(fields)} fields, saw {len(record)} (as pandas' reader says)")
                values = record + [""] * (len(fields) - len(record))
                row: dict[str, str | None] = dict(zip(fields, values))
                if pandas_na:
                    row = {k: None if v in PANDAS_NA else v for k, v in row.items()}
                elif any(not (row[c] or "").strip() for c in COLUMNS):
                    raise EmmaError(f"{what}: {path}:{reader.line_num} is malformed: need tab-separated {', '.join(COLUMNS)}")
                rows.append({c: row[c] for c in COLUMNS})
    except UnicodeDecodeError as exc:
        raise EmmaError(f"{what}: {path} is not valid UTF-8 (byte {exc.start}); re-encode it as UTF-8") from None
    return rows
