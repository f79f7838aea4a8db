"""DuckDB -> Spark transpiling rules of userops.spark_sql (text only: no Spark needed; the rows are
proven equal by tests/spark/test_differential.py)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from userops import spark_sql


def _flat(sql: str) -> str:
    """One line, no blanks inside parentheses (sqlglot's pretty layout varies with length)."""
    return " ".join(sql.split()).replace("( ", "(").replace(" )", ")")


def test_parameters_stay_bound():
    text = spark_sql.transpile("select * from orders where ordered_at >= $from_date and channel = $ch")
    assert ":from_date" in text and ":ch" in text
    assert "$" not in text


def test_range_keeps_its_end_excluded():
    # DuckDB range(Jan 1, Mar 1 + 1 day, 1 month) = Jan 1, Feb 1, Mar 1: an exploded sequence filtered
    # below the end (sqlglot's sequence(a, b - step) would lose Mar 1)
    text = _flat(spark_sql.transpile("select range from range($a, $b + interval 1 day, interval 1 month)"))
    assert (
        "FILTER(SEQUENCE(:a, :b + INTERVAL '1' DAY, INTERVAL '1' MONTH), _v -> _v < :b + INTERVAL '1' DAY)"
        in text
    )
    assert text.endswith("AS _range(range)")
    rows = duckdb.sql(
        "select count(*) from range(date '2026-01-01', date '2026-03-01' + interval 1 day, interval 1 month)"
    )
    assert rows.fetchall()[0][0] == 3


def test_integer_range_alias_and_column():
    text = _flat(spark_sql.transpile("select k.range from range(1, 8) as k"))
    assert "EXPLODE(FILTER(SEQUENCE(1, 8), _v -> _v < 8)) AS k(range)" in text


def test_interval_functions():
    text = _flat(spark_sql.transpile("select to_days($n), to_hours(3), to_months(2)"))
    assert (
        "MAKE_DT_INTERVAL(:n)" in text
        and "MAKE_DT_INTERVAL(0, 3)" in text
        and "MAKE_YM_INTERVAL(0, 2)" in text
    )


def test_division_and_average_are_double():
    # DuckDB: decimal / integer and avg(decimal) are DOUBLE; Spark would keep a 6-place DECIMAL
    assert duckdb.sql("select typeof(1.5::decimal(12,2) / 3), typeof(avg(1.5::decimal(12,2)))").fetchall()[
        0
    ] == (
        "DOUBLE",
        "DOUBLE",
    )
    text = _flat(spark_sql.transpile("select gmv / n, avg(gmv) from t"))
    assert "CAST(gmv AS DOUBLE) / n" in text and "AVG(CAST(gmv AS DOUBLE))" in text


def test_weekdays():
    # isodow: Monday 1 .. Sunday 7 = Spark weekday() + 1 (Monday 0); DuckDB dayofweek: Sunday 0
    text = _flat(spark_sql.transpile("select isodow(ts), dayofweek(ts) from t"))
    assert "(WEEKDAY(ts) + 1)" in text and "(DAYOFWEEK(ts) - 1)" in text


def test_format_becomes_concat():
    text = _flat(spark_sql.transpile("select format('{} days via {}', round(x, 1), channel) from t"))
    assert "CONCAT(CAST(ROUND(x, 1) AS STRING), ' days via ', CAST(channel AS STRING))" in text
    with pytest.raises(ValueError, match="placeholders"):
        spark_sql.transpile("select format('{:.2f}', x) from t")


def test_a_rewritten_calls_arguments_are_rewritten_too():
    # triggers/recall: format(..., case when ... then format('{} days', ...) ...) and a division in
    # a date_trunc's argument; sqlglot does not descend into a replaced node by itself
    text = _flat(
        spark_sql.transpile(
            "select format('gap {} then', case when n > 1 then format('{} days', round(g, 1)) else 'unknown' end), "
            "date_trunc('month', format('{}-01', m)) from t"
        )
    )
    assert "FORMAT_STRING" not in text  # Spark's printf-style format would print '{}' as is
    assert (
        "CONCAT('gap ', CAST(CASE WHEN n > 1 THEN CONCAT(CAST(ROUND(g, 1) AS STRING), ' days') "
        "ELSE 'unknown' END AS STRING), ' then')" in text
    )
    assert "DATE_TRUNC('MONTH', CONCAT(CAST(m AS STRING), '-01'))" in text


def test_hex_digits_read_with_conv():
    text = _flat(spark_sql.transpile("select cast(('0x' || substr(sha256($s), 1, 13)) as bigint) as v"))
    assert "CAST(CONV(SUBSTRING(SHA2(:s, 256), 1, 13), 16, 10) AS BIGINT)" in text


def test_nested_cte_names_made_unique():
    # an included file's `final` inside the metric's own `final`: Spark refuses the same name twice;
    # the inner definition's own `orders` still names the table outside
    text = _flat(
        spark_sql.transpile(
            "with final as (select * from (with orders as (select * from orders), final as "
            "(select * from orders) select * from final) as t) select * from final"
        )
    )
    assert "orders__1 AS (SELECT * FROM orders)" in text
    assert "final__1 AS (SELECT * FROM orders__1)" in text
    assert "FROM final__1" in text


def test_warehouse_file_as_query():
    name, text = spark_sql.table_sql("warehouse/10_fct_orders")
    assert name == "fct_orders"
    assert not text.upper().startswith("CREATE")


def test_sql_names_skip_overrides(tmp_path, monkeypatch):
    from userops import sql_files

    (tmp_path / "play").mkdir()
    (tmp_path / "play" / "m.sql").write_text("select 1")
    (tmp_path / "play" / "m.spark.sql").write_text("-- spark override: test\nselect 1")
    monkeypatch.setattr(sql_files, "SQL_DIR", tmp_path)
    assert sql_files.sql_names("play") == ["play/m"]


def test_differences():
    a = pd.DataFrame({"k": [2, 1], "rate": [0.5, 0.25], "n": [3, 4]})
    b = pd.DataFrame({"k": [1, 2], "rate": [0.25 + 1e-12, 0.5], "n": [4, 3]})
    assert spark_sql.differences(a, b) == []  # same rows in another order, rates within 1e-9
    c = b.assign(n=[4, 2])
    assert spark_sql.differences(a, c) == ["row 1: n: duckdb 3 vs spark 2"]  # counts exact
    assert spark_sql.differences(a, b.assign(rate=[0.25, 0.5 + 1e-6])) != []
    assert spark_sql.differences(a, b.rename(columns={"n": "m"}))[0].startswith("columns differ")
