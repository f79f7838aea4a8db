"""Shared intermediates computed once per connection, and the query log (userops.db)."""

from __future__ import annotations

import json

import duckdb

from userops.db import QUERY_LOG_ENV, query_once


def _con_with_orders(n_orders: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create table fct_orders as select range as order_id from range($n)", {"n": n_orders})
    return con


def test_query_once_is_per_connection_and_logged(tmp_path, monkeypatch):
    log = tmp_path / "queries.jsonl"
    monkeypatch.setenv(QUERY_LOG_ENV, str(log))
    monkeypatch.setattr("userops.db.read_sql", lambda name: "select count(*) as n from fct_orders")
    monkeypatch.setattr("userops.db.sql_params", lambda name: [])
    con = _con_with_orders(3)
    first = query_once("brief/month_totals", con)
    first.loc[0, "n"] = 99  # a caller changing its copy does not change the shared result
    con.execute("insert into fct_orders values (3)")  # 4 orders now; the same connection keeps 3
    assert query_once("brief/month_totals", con).n.tolist() == [3]
    assert query_once("brief/month_totals", _con_with_orders(5)).n.tolist() == [5]  # another run
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["sql"], e.get("memo", False), e["rows"]) for e in entries] == [
        ("brief/month_totals", False, 1),
        ("brief/month_totals", True, 1),
        ("brief/month_totals", False, 1),
    ]
