"""What every report notebook opens with: one call, one context.

    ctx = open_play("02_new_user_retention", month, warehouse, params_file, output_dir)
    ctx.con, ctx.period, ctx.params, ctx.report, ctx.has("coupons")

It applies the house chart style, validates the params file, opens the warehouse
read-only (or, with params `engine: spark`, the same tables on a SparkSession: userops.engine),
resolves the report month (empty = last complete month) and prepares
the metrics Report with its provenance.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb

from userops import charts, i18n
from userops.db import load_info, present_tables, resolve_month
from userops.engine import SparkConnection, open_engine
from userops.outputs import Report
from userops.params import Params, load_params
from userops.period import Period


@dataclass
class PlayContext:
    con: duckdb.DuckDBPyConnection | SparkConnection
    period: Period
    params: Params
    report: Report
    present: set[str]

    def has(self, *tables: str) -> bool:
        """True when every named optional table was supplied at load time."""
        return all(t in self.present for t in tables)


def open_play(play: str, month: str, warehouse: str, params_file: str, output_dir: str = "") -> PlayContext:
    charts.use_house_style()
    # Library deprecation chatter would print into the PDFs; the report shows findings only.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    params = load_params(params_file)
    charts.set_currency(params.data.currency_symbol, params.data.currency_code)
    i18n.set_language(params.report.language, params.report.display_names)
    con = open_engine(warehouse, params)
    resolved = resolve_month(con, month)
    info = load_info(con)
    report = Report(
        play=play,
        month=resolved,
        output_dir=output_dir or None,
        provenance={
            "params_file": str(Path(params_file).resolve()),
            "params": params.model_dump(),
            "warehouse": str(Path(warehouse).resolve()),
            "data_fingerprint": info["fingerprint"],
            "data_loaded_at": info["loaded_at"],
        },
        con=con,
        global_holdout=(params.experiments.global_holdout_salt, params.experiments.global_holdout_share),
    )
    return PlayContext(
        con=con, period=Period(resolved), params=params, report=report, present=present_tables(con)
    )
