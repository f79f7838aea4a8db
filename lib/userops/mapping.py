"""Column mapping: adapt a mapping file, not the export.

`userops check|load DIR --mapping FILE.yaml` reads, per contract table, an optional source file
name, column renames (source name -> contract name) and value maps (per contract column, source
value -> contract value):

    orders:
      file: invoices.csv                      # default: orders.csv / orders.parquet
      columns: {InvoiceNo: order_id, InvoiceDate: ordered_at}
      values: {order_channel: {Web: app}}     # values not listed are kept as they are

Renames are applied first, so `values` names contract columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from userops.contract import TABLES


class MappingError(ValueError):
    """The mapping file is not valid; the message names the file and the key."""


@dataclass(frozen=True)
class TableMapping:
    file: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # source column -> contract column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # contract column -> {source: contract}


def _str_map(raw, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a mapping of source -> contract values")
    return {str(k): str(v) for k, v in raw.items()}


def _table_mapping(name: str, raw, where: str) -> TableMapping:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected keys file, columns, values")
    unknown = set(raw) - {"file", "columns", "values"}
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} (use file, columns, values)"
        )
    contract_cols = set(TABLES[name].column_names)
    columns = _str_map(raw.get("columns") or {}, f"{where}.columns")
    for src, dst in columns.items():
        if dst not in contract_cols:
            raise MappingError(f"{where}.columns.{src}: {dst!r} is not a column of {name}")
    if len(set(columns.values())) != len(columns):
        raise MappingError(f"{where}.columns: two source columns map to the same contract column")
    values_raw = raw.get("values") or {}
    if not isinstance(values_raw, dict):
        raise MappingError(f"{where}.values: expected contract column -> {{source value: value}}")
    values = {}
    for col, vmap in values_raw.items():
        if col not in contract_cols:
            raise MappingError(f"{where}.values.{col}: not a column of {name}")
        values[str(col)] = _str_map(vmap, f"{where}.values.{col}")
    file = raw.get("file")
    return TableMapping(file=str(file) if file else None, columns=columns, values=values)


def load_mapping(path: str | Path) -> dict[str, TableMapping]:
    """Read and validate a mapping YAML file: {table: TableMapping}."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} not found") from None
    except yaml.YAMLError as e:
        raise MappingError(f"mapping file {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise MappingError(f"mapping file {path}: top level must map table names to their mapping")
    out = {}
    for name, spec in raw.items():
        if name not in TABLES:
            raise MappingError(f"mapping file {path}: {name!r} is not a contract table")
        out[name] = _table_mapping(name, spec, f"mapping file {path}: {name}")
    return out
