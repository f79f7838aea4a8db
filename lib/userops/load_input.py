"""File-level input checks before DuckDB reads a file: encoding, empty files, misspelt headers.

- Encoding: CSV files are read as UTF-8 (a BOM is fine). `encoding="gbk"` (CLI `--encoding`)
  converts a file to UTF-8 first, in a scratch folder; without it a file that is not UTF-8 is
  reported with the encoding it reads as (GBK and GB18030 are what Chinese Windows tools export),
  never as a CSV parse error.
- An empty (0-byte) file is reported as such, not read as a table with a column `column0`.
- Headers: a column that is not in the contract but one edit (a case change, a letter added,
  dropped, changed or two swapped) from a contract column is a misspelling (`City`, `couponid`).
"""

from __future__ import annotations

import codecs
from pathlib import Path

CHUNK = 1 << 20
# Tried in this order on a file that is not UTF-8: the first that decodes the whole file is named.
GUESSES = (("gbk", "GBK"), ("gb18030", "GB18030"), ("big5", "Big5"), ("utf-16", "UTF-16"))


class FileProblem(Exception):
    """A file cannot be read as a table (empty, or not in its encoding): `rule` and `example`."""

    def __init__(self, rule: str, example: str):
        super().__init__(f"{rule}: {example}")
        self.rule = rule
        self.example = example
        self.file = ""  # the file of a folder it is about (set by the loader)


def encoding_name(encoding: str) -> str:
    """The codec name Python knows `encoding` by; ValueError naming it if unknown."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r} (e.g. utf-8, gbk, gb18030)") from None


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, bytes] | None:
    """(line, bytes) of the first byte sequence that is not `encoding`, or None if the file decodes."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                start = max(e.start, 0)
                return line + chunk[:start].count(b"\n"), chunk[start : start + 2]
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return line, b""
    return None


def _guess(path: Path) -> str | None:
    for codec, label in GUESSES:
        if _first_bad_byte(path, codec) is None:
            return label
    return None


def utf8_source(path: Path, encoding: str | None, scratch: Path) -> Path:
    """The UTF-8 file DuckDB should read for `path` (the file itself, or a converted copy).

    Raises FileProblem when the file is empty or not in the encoding given (default UTF-8).
    """
    if path.stat().st_size == 0:
        raise FileProblem("file has a header row (the file is empty: 0 bytes)", "")
    if path.suffix != ".csv":
        return path
    codec = encoding_name(encoding or "utf-8")
    bad = _first_bad_byte(path, "utf-8-sig" if codec == "utf-8" else codec)
    if bad is not None:
        line, raw = bad
        example = f"line {line}: bytes {raw.hex(' ')}"
        if codec != "utf-8":
            raise FileProblem(f"readable as {encoding} (--encoding {encoding})", example)
        guess = _guess(path)
        hint = f"it reads as {guess}: rerun with --encoding {guess.lower()}" if guess else "give --encoding"
        raise FileProblem(f"encoded in UTF-8 ({hint})", example)
    if codec == "utf-8":
        return path
    scratch.mkdir(parents=True, exist_ok=True)
    out = scratch / path.name
    with open(path, encoding=codec, newline="") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        for text in iter(lambda: src.read(CHUNK), ""):
            dst.write(text)
    return out


def one_edit(a: str, b: str) -> bool:
    """True when a and b differ by exactly one insertion, deletion, substitution or adjacent swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return short[i:] == long_[i + 1 :]


def near_contract(header: str, contract: tuple[str, ...]) -> str | None:
    """The contract column a non-contract header misspells (case-insensitive, one edit), if any."""
    h = header.strip().lower()
    for name in contract:
        if h == name or one_edit(h, name):
            return name
    return None
