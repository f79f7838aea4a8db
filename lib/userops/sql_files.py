"""Find, read and describe the SQL metric files under lib/userops/sql/<play>/<name>.sql."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
_HEADER = re.compile(r"^--\s*([a-z_ ]+):\s*(.*)$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def sql_path(name: str) -> Path:
    """'retention/dk_retention' -> lib/userops/sql/retention/dk_retention.sql (must exist)."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL metric {name!r} (looked for {path})")
    return path


_INCLUDE = re.compile(r"^[ \t]*--[ \t]*include:[ \t]*([a-z0-9_]+/[a-z0-9_]+)[ \t]*$", re.MULTILINE)


@cache
def read_sql(name: str) -> str:
    """The SQL text of a metric; a body line ``-- include: play/name`` is replaced by that file's
    text (one definition shared by several metrics, used as a subquery)."""
    text = sql_path(name).read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: read_sql(m.group(1)), text)


def sql_names(play: str) -> list[str]:
    """Metric names of one play folder, sorted (a Spark dialect override <metric>.spark.sql is no metric)."""
    return sorted(f"{play}/{p.stem}" for p in (SQL_DIR / play).glob("*.sql") if not p.stem.endswith(".spark"))


def sql_params(name: str) -> list[str]:
    """Bound parameter names ($name) a SQL file uses, in order of first use (comments excluded)."""
    body = "\n".join(line.split("--", 1)[0] for line in read_sql(name).splitlines())
    return list(dict.fromkeys(_PARAM.findall(body)))


def sql_doc(name: str) -> dict[str, str]:
    """The header comment of a SQL file as {field: text} (grain, definition, parameters, ...).

    Continuation lines ('--   more text') are appended to the previous field.
    """
    doc: dict[str, str] = {}
    last = None
    for line in read_sql(name).splitlines():
        if not line.startswith("--"):
            break
        m = _HEADER.match(line)
        if m:
            last = m.group(1).strip()
            doc[last] = m.group(2).strip()
        elif last and line[2:].strip():
            doc[last] += " " + line[2:].strip()
    return doc


def definitions(names: list[str], max_chars: int = 600):
    """The report appendix: one row per SQL metric with its grain and definition (pandas frame).

    Definitions longer than `max_chars` are cut, pointing to the SQL file for the full text.
    """
    import pandas as pd

    rows = []
    for name in names:
        doc = sql_doc(name)
        text = doc.get("definition", "")
        if len(text) > max_chars:
            text = text[:max_chars].rsplit(" ", 1)[0] + f" … (full text: lib/userops/sql/{name}.sql)"
        rows.append({"metric": name, "grain": doc.get("grain", ""), "definition": text})
    return pd.DataFrame(rows, columns=["metric", "grain", "definition"])
