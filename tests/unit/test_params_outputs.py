"""Params validation, month resolution and the atomic metrics/target writers."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd
import pytest

from userops.db import connect, duckdb_config, future_outliers, last_complete_month, resolve_month
from userops.outputs import Report
from userops.params import ParamsError, load_params
from userops.period import Period
from userops.testing import order_row


def test_default_params_load():
    p = load_params("params/default.yaml")
    assert p.retention.max_day == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention:\n  max_dayz: 7\n", "retention.max_dayz: unknown key"),
        ("retention:\n  max_day: seven\n", "retention.max_day: Input should be a valid integer"),
        ("retention:\n  reminder_holdout_share: 1.5\n", "retention.reminder_holdout_share"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("retention:\n  max_day: true\n", "retention.max_day: Input should be a valid integer (got True)"),
        ("retention:\n  max_day: '7'\n", "retention.max_day: Input should be a valid integer"),
        ("retention:\n  max_day: 5\n  max_day: 7\n", "duplicate key 'max_day'"),
        (
            "recall:\n  cost_per_touch: {sms: -0.05}\n",
            "recall.cost_per_touch.sms: Input should be greater than",
        ),
        ("activity:\n  match_tenure_bins_days: [-10, 90]\n", "bounds must be positive"),
    ],
)
def test_bad_params_name_file_and_key(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ParamsError) as err:
        load_params(f)
    assert str(f) in str(err.value) and message in str(err.value)


def test_month_resolution(make_warehouse):
    users = [dict(user_id=1, registered_at="2026-08-01 09:00:00", channel="app")]
    # orders 08-03 .. 10-15: September is the last complete month; October is partial
    orders = [order_row(1, 1, "2026-08-03 10:00:00"), order_row(2, 1, "2026-10-15 10:00:00")]
    con = connect(make_warehouse({"users": users, "orders": orders}))
    assert last_complete_month(con) == "2026-09"
    assert resolve_month(con, "") == "2026-09"
    assert resolve_month(con, "2026-08") == "2026-08"
    for bad in ("2026-10", "2026-07", "2026-13", "Oct"):
        with pytest.raises(ValueError, match="outside the data|not YYYY-MM"):
            resolve_month(con, bad)


def test_period_helpers():
    p = Period("2026-01")
    assert (str(p.start), str(p.end), str(p.as_of)) == ("2026-01-01", "2026-02-01", "2026-01-31")
    assert p.prev.month == "2025-12" and p.shift(13).month == "2027-02"


def test_report_merges_plays_and_writes_sorted_targets(tmp_path):
    a = Report("02_x", "2026-10", tmp_path, provenance={"data_fingerprint": "abc"})
    a.add("rate", 0.25, "share", "a rate", ci=(0.2, 0.3))
    with pytest.raises(KeyError):
        a.add("rate", 0.3, "share", "twice")
    a.write()
    b = Report("01_y", "2026-10", tmp_path)
    b.add("n", 3, "users", "a count")
    b.write()
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert list(doc["plays"]) == ["01_y", "02_x"]  # both plays kept, sorted
    assert doc["plays"]["02_x"]["metrics"]["rate"] == {
        "value": 0.25,
        "unit": "share",
        "definition": "a rate",
        "period": "2026-10",
        "ci_low": 0.2,
        "ci_high": 0.3,
    }
    assert doc["provenance"]["data_fingerprint"] == "abc" and doc["provenance"]["git_commit"]
    b.write_target("list", pd.DataFrame({"user_id": [3, 1, 2]}), ["user_id"])
    assert (tmp_path / "targets" / "list.csv").read_text().split() == ["user_id", "1", "2", "3"]
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temp files left


def test_report_without_output_dir_writes_nothing(tmp_path, capsys):
    r = Report("02_x", "2026-10", "")
    r.add("n", 1, "users", "a count")
    r.write()
    assert "not written" in capsys.readouterr().out


def test_identical_reruns_write_identical_metrics(tmp_path):
    # 0.1 + 0.2 = 0.30000000000000004 in binary floating point; summed in another order it is
    # 0.3. Both must be stored as 0.3, and no clock time or timing may enter the file.
    texts = []
    for value in (0.1 + 0.2, 0.2 + 0.1 + 1e-17):
        out = tmp_path / str(len(texts))
        rep = Report(play="02_x", month="2026-10", output_dir=out, provenance={"params_file": "p.yaml"})
        rep.add("rate", value, "share", "a rate")
        rep.write()
        texts.append((out / "metrics.json").read_text(encoding="utf-8"))
    assert texts[0] == texts[1]
    doc = json.loads(texts[0])
    assert doc["plays"]["02_x"] == {
        "provenance": {"params_file": "p.yaml"},
        "metrics": {"rate": {"value": 0.3, "unit": "share", "definition": "a rate", "period": "2026-10"}},
    }
    assert "written_at" not in doc["provenance"]


def test_a_few_future_dated_orders_do_not_move_the_report_month(make_warehouse):
    # 1,500 orders, one a day per user-slot from 2026-09-01 to 2026-10-31 (61 days), then 1 order
    # keyed as 2031-01-05: after a 4-year gap, 1 order <= min(100, 0.1% x 1,501 = 1.5) -> outlier.
    users = [dict(user_id=i, registered_at="2026-08-01 09:00:00", channel="app") for i in range(1, 26)]
    day0 = dt.date(2026, 9, 1)
    orders = [order_row(k, 1 + k % 25, f"{day0 + dt.timedelta(days=k % 61)} 10:00:00") for k in range(1500)]
    orders.append(order_row(9999, 1, "2031-01-05 10:00:00"))
    con = connect(make_warehouse({"users": users, "orders": orders}))
    last_regular, n = future_outliers(con)
    assert (str(last_regular), n) == ("2026-10-31", 1)
    assert last_complete_month(con) == "2026-10"
    # Two regular months of real data are never outliers: no gap of 31+ days inside them.
    con2 = connect(make_warehouse({"users": users, "orders": orders[:-1]}))
    assert future_outliers(con2) == (None, 0)


def test_duckdb_resource_settings_from_params_and_environment(make_warehouse, monkeypatch):
    users = [dict(user_id=1, registered_at="2026-08-01 09:00:00", channel="app")]
    wh = make_warehouse({"users": users, "orders": [order_row(1, 1, "2026-08-03 10:00:00")]})
    con = connect(wh, settings={"threads": 1, "memory_limit": "1GB"})
    assert con.execute("select current_setting('threads')").fetchone()[0] == 1
    monkeypatch.setenv("USEROPS_DUCKDB_MEMORY_LIMIT", "512MB")
    assert duckdb_config({"memory_limit": "1GB"}) == {"memory_limit": "512MB"}
    con = connect(wh)
    assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "488.2 MiB"
    with pytest.raises(ValueError, match="resource settings"):
        connect(wh, settings={"threads": "many"})


def test_spill_cap_fails_the_query_instead_of_filling_the_disk(make_warehouse, monkeypatch):
    # 30 MB of memory cannot hold a sort of 1,000,000 md5 strings (about 40 MB), so it spills; with the
    # cap at 2 MB of spill the query fails with DuckDB's own out-of-memory error naming the setting.
    users = [dict(user_id=1, registered_at="2026-08-01 09:00:00", channel="app")]
    wh = make_warehouse({"users": users, "orders": [order_row(1, 1, "2026-08-03 10:00:00")]})
    for env in ("USEROPS_DUCKDB_MEMORY_LIMIT", "USEROPS_DUCKDB_THREADS", "USEROPS_DUCKDB_TEMP_DIRECTORY"):
        monkeypatch.delenv(env, raising=False)  # the environment would win over the 30 MB below
    monkeypatch.setenv("USEROPS_DUCKDB_MAX_TEMP_SIZE", "2MB")
    assert duckdb_config({"max_temp_directory_size": "50GB"}) == {"max_temp_directory_size": "2MB"}
    con = connect(wh, settings={"memory_limit": "30MB", "threads": 1})
    assert con.execute("select current_setting('max_temp_directory_size')").fetchone()[0] == "1.9 MiB"
    ranks = "select row_number() over (order by md5(range::varchar)) as r from range(1000000)"
    with pytest.raises(duckdb.OutOfMemoryException, match="max_temp_directory_size"):
        con.execute(f"select max(r) from ({ranks})").fetchall()
    monkeypatch.delenv("USEROPS_DUCKDB_MAX_TEMP_SIZE")
    assert load_params("params/default.yaml").duckdb.max_temp_directory_size is None  # DuckDB decides
