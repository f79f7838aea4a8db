"""Issue 14, the input side: timezones, money decimals, misspelt headers, header-only and empty
files, null tokens, encodings, line numbers after quoted newlines, out of memory, Ctrl-C.

Every refused input names the file, the column, the rule, the count and the rows, and leaves a
warehouse built before from good data byte for byte unchanged (no temp file left beside it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from userops.cli import main
from userops.load import ContractError, LoadOptions, OutOfMemory, check_data, load_dir
from userops.params import Params, ParamsError, load_params
from userops.testing import order_row, write_tables

USERS = [
    dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="app"),
    dict(user_id=2, registered_at="2026-10-02 09:00:00", channel="paid_ads"),
]
ORDERS = [order_row(10, 1, "2026-10-01 10:00:00"), order_row(11, 2, "2026-10-03 10:00:00", gmv=8.5)]


def csv(d: Path, name: str, rows: list[dict]) -> Path:
    """<name>.csv with exactly the given columns (a misspelt header stays misspelt)."""
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(d / f"{name}.csv", index=False)
    return d


def params(**data) -> Params:
    return Params.model_validate({"data": data})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def _good_build(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("good")
    load_dir(write_tables(d / "in", {"users": USERS, "orders": ORDERS}), d / "warehouse.duckdb")
    return d / "warehouse.duckdb"


@pytest.fixture
def good_warehouse(_good_build, tmp_path) -> Path:
    """A warehouse built from good data (one build per module, a copy per test)."""
    wh = tmp_path / "wh" / "warehouse.duckdb"
    wh.parent.mkdir()
    shutil.copyfile(_good_build, wh)
    return wh


def refused(wh: Path, data_dir: Path, opts: LoadOptions | None = None) -> list:
    """Load data_dir over the good warehouse: refused, warehouse unchanged, no temp file left."""
    before = digest(wh)
    with pytest.raises(ContractError) as err:
        load_dir(data_dir, wh, opts)
    assert digest(wh) == before
    assert leftovers(wh) == []
    return err.value.problems


def leftovers(wh: Path) -> list[str]:
    """Files beside the warehouse other than itself and the lock folder the load shares with runs."""
    return sorted(p.name for p in wh.parent.iterdir() if p.name not in (wh.name, ".locks"))


def messages(problems) -> list[str]:
    return [str(p).split("/")[-1] for p in problems]  # from the file name on


# --- 2. Timezones ----------------------------------------------------------------------------


def test_offsets_and_timezone_aware_values_are_converted_to_the_chains_timezone(tmp_path):
    users = [
        dict(user_id=1, registered_at="2026-10-01T01:00:00Z", channel="app"),  # 09:00 in Shanghai
        dict(user_id=2, registered_at="2026-10-01 09:30:00+08:00", channel="app"),  # already local
        dict(user_id=3, registered_at="2026-10-01 11:00:00+0900", channel="app"),  # Tokyo: 10:00 local
        dict(user_id=4, registered_at="2026-10-01 23:30:00", channel="app"),  # naive: local as given
    ]
    orders = [order_row(10, 1, "2026-09-30T20:15:00-04:00")]  # New York evening: 08:15 next day
    d = write_tables(tmp_path / "in", {"users": users, "orders": orders})
    wh = tmp_path / "wh.duckdb"
    load_dir(d, wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("select registered_at::varchar from users order by user_id").fetchall() == [
        ("2026-10-01 09:00:00",),
        ("2026-10-01 09:30:00",),
        ("2026-10-01 10:00:00",),
        ("2026-10-01 23:30:00",),
    ]
    assert con.execute("select ordered_at::varchar from orders").fetchall() == [("2026-10-01 08:15:00",)]
    con.close()
    # A chain in UTC: the same instants, UTC wall-clock; the naive value stays as given.
    load_dir(d, wh, LoadOptions(params=params(timezone="UTC")))
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("select registered_at::varchar from users order by user_id").fetchall() == [
        ("2026-10-01 01:00:00",),
        ("2026-10-01 01:30:00",),
        ("2026-10-01 02:00:00",),
        ("2026-10-01 23:30:00",),
    ]


def test_timezone_aware_parquet_timestamps_are_local_time_not_utc(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    users = pd.DataFrame(USERS)
    # Stored as UTC instants (2026-10-01 01:00Z, 2026-10-02 01:00Z) = 09:00 in Shanghai.
    users["registered_at"] = pd.to_datetime(users.registered_at).dt.tz_localize("Asia/Shanghai")
    users.to_parquet(d / "users.parquet")
    orders = pd.DataFrame(ORDERS)
    orders["ordered_at"] = pd.to_datetime(orders.ordered_at).dt.tz_localize("UTC")  # 10:00Z = 18:00 local
    orders.to_parquet(d / "orders.parquet")
    wh = tmp_path / "wh.duckdb"
    load_dir(d, wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("select registered_at::varchar from users order by user_id").fetchall() == [
        ("2026-10-01 09:00:00",),
        ("2026-10-02 09:00:00",),
    ]
    assert con.execute("select ordered_at::varchar from orders order by order_id").fetchall() == [
        ("2026-10-01 18:00:00",),
        ("2026-10-03 18:00:00",),
    ]


def test_unknown_timezone_and_bad_null_tokens_are_params_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown timezone 'Asia/Shangai'"):
        params(timezone="Asia/Shangai")
    bad = tmp_path / "p.yaml"
    bad.write_text("data:\n  null_tokens: [NULL, NA]\n")  # YAML reads a bare NULL as nothing
    with pytest.raises(ParamsError, match="data.null_tokens: Value error, write each token in quotes"):
        load_params(bad)
    with pytest.raises(ValueError, match="empty or blank fields are always missing"):
        params(null_tokens=["", "NA"])


# --- Money: more than 2 decimals is refused, not rounded ----------------------------------------


def test_money_with_more_than_two_decimals_is_refused_not_rounded(tmp_path, good_warehouse):
    orders = ORDERS + [
        order_row(12, 1, "2026-10-04 10:00:00", gmv=33.999),  # line 4
        order_row(13, 2, "2026-10-04 11:00:00", gmv=12.5, discount=0.005),  # line 5
        order_row(14, 2, "2026-10-04 12:00:00", gmv=7.100),  # 7.1: fine
    ]
    ps = refused(good_warehouse, write_tables(tmp_path / "in", {"users": USERS, "orders": orders}))
    assert messages(ps) == [
        "orders.csv: column 'gmv': money: at most 2 decimals (not rounded): 1 row; "
        "first: line 4 (order_id=12, gmv=33.999)",
        "orders.csv: column 'discount': money: at most 2 decimals (not rounded): 1 row; "
        "first: line 5 (order_id=13, discount=0.005)",
    ]


def test_parquet_float_money_with_more_than_two_decimals_is_refused(tmp_path):
    d = write_tables(tmp_path / "in", {"users": USERS})
    orders = pd.DataFrame(ORDERS + [order_row(12, 1, "2026-10-04 10:00:00", gmv=19.999)])  # row 3
    orders.assign(ordered_at=pd.to_datetime(orders.ordered_at)).to_parquet(d / "orders.parquet")
    assert messages(check_data(d).errors) == [
        "orders.parquet: column 'gmv': money: at most 2 decimals (not rounded): 1 row; "
        "first: row 3 (order_id=12, gmv=19.999)"
    ]


# --- 4. Headers compared case- and spelling-aware ---------------------------------------------


def test_misspelt_optional_headers_are_errors_with_a_suggestion(tmp_path, good_warehouse, capsys):
    d = tmp_path / "in"
    csv(d, "users", [dict(u, City=c) for u, c in zip(USERS, ["Shanghai", None], strict=True)])
    # couponid instead of coupon_id, all empty: still an error (the next export may fill it)
    csv(d, "orders", [{k: v for k, v in o.items() if k != "coupon_id"} | {"couponid": None} for o in ORDERS])
    ps = refused(good_warehouse, d)
    assert messages(ps) == [
        "users.csv: column 'City': header is a contract column (did you mean city?): its values would be "
        "dropped: 1 row; first: line 2 (user_id=1, City=Shanghai)",
        "orders.csv: column 'couponid': header is a contract column (did you mean coupon_id?): its "
        "values would be dropped: 0 rows; first: line 1 (header: order_id, user_id, ordered_at, "
        "store_id, order_channel, gmv, discount, couponid)",
    ]
    assert main(["check", str(d)]) == 1
    assert "did you mean city?" in capsys.readouterr().err


def test_misspelt_required_header_is_one_error_and_a_duplicate_spelling_a_notice(tmp_path):
    d = tmp_path / "in"
    csv(
        d,
        "users",
        [dict(user_id=u["user_id"], Registered_At=u["registered_at"], channel="app") for u in USERS],
    )
    csv(d, "orders", [dict(o, gvm=1, Gmv=2) for o in ORDERS])  # beside gmv: neither is read
    v = check_data(d)
    assert [(p.column, p.rule, p.n_rows) for p in v.errors] == [
        ("Registered_At", "header is a contract column (did you mean registered_at?): its values would be dropped", 2)
    ]  # fmt: skip
    assert [str(n) for n in v.notices][:2] == [
        "orders.gvm: column 'gvm' is not read: the file also has gmv (did you mean gmv?)",
        "orders.Gmv_1: column 'Gmv_1' is a second Gmv column and is not read (the file has gmv)",
    ]


# --- 5. A required table with no rows ---------------------------------------------------------


def test_header_only_orders_is_refused_and_the_warehouse_kept(tmp_path, good_warehouse):
    d = write_tables(tmp_path / "in", {"users": USERS})
    (d / "orders.csv").write_text(
        "order_id,user_id,ordered_at,store_id,order_channel,gmv,discount,coupon_id\n"
    )
    assert messages(refused(good_warehouse, d)) == [
        "orders.csv: column '-': required table orders has rows: 0 rows; first: line 1 (header only: "
        "order_id, user_id, ordered_at, store_id, order_channel, gmv, discount, coupon_id)"
    ]


# --- 6. Null tokens, and literal NULL versus a real null (14) -----------------------------------


def test_null_tokens_apply_to_every_column_and_are_reported_apart_from_empty(tmp_path, good_warehouse):
    users = USERS + [
        dict(user_id=3, registered_at="2026-10-02 10:00:00", channel="NULL"),  # line 4
        dict(user_id=4, registered_at="2026-10-02 10:00:00", channel="\\N"),  # line 5
        dict(user_id=5, registered_at="2026-10-02 10:00:00", channel=None),  # line 6: empty
        dict(user_id=6, registered_at="2026-10-02 10:00:00", channel="app", city="NA"),  # city: missing
    ]
    d = write_tables(tmp_path / "in", {"users": users, "orders": ORDERS})
    assert messages(refused(good_warehouse, d)) == [
        "users.csv: column 'channel': not null: 1 row; first: line 6 (user_id=5, channel=(empty))",
        "users.csv: column 'channel': not a null token (params data.null_tokens): 2 rows; "
        "first: line 4 (user_id=3, channel='NULL'); line 5 (user_id=4, channel='\\\\N')",
    ]
    wh = tmp_path / "wh2.duckdb"
    load_dir(write_tables(tmp_path / "ok", {"users": USERS + users[-1:], "orders": ORDERS}), wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("select count(city) from users").fetchone() == (0,)  # "NA" is missing


def test_null_tokens_are_configurable(tmp_path):
    users = USERS + [
        dict(user_id=3, registered_at="2026-10-02 10:00:00", channel="NULL"),  # a channel once tokens change
        dict(user_id=4, registered_at="2026-10-02 10:00:00", channel="-"),  # line 5: the chain's token
    ]
    d = write_tables(tmp_path / "in", {"users": users, "orders": ORDERS})
    v = check_data(d, LoadOptions(params=params(null_tokens=["-"])))
    assert [(p.column, p.rule, p.n_rows, p.examples) for p in v.errors] == [
        ("channel", "not a null token (params data.null_tokens)", 1, ("line 5 (user_id=4, channel='-')",))
    ]


# --- 11. Encodings --------------------------------------------------------------------------------


def test_gbk_csv_is_named_and_loads_with_encoding(tmp_path, good_warehouse, capsys):
    d = tmp_path / "in"
    write_tables(d, {"orders": ORDERS})
    users = pd.DataFrame([dict(u, city="上海") for u in USERS] + [dict(user_id=3, registered_at="2026-10-02 10:00:00", channel="微信群")])  # fmt: skip
    users.to_csv(d / "users.csv", index=False, encoding="gbk")
    assert messages(refused(good_warehouse, d)) == [
        "users.csv: column '-': encoded in UTF-8 (it reads as GBK: rerun with --encoding gbk): 1 row; "
        "first: line 2: bytes c9 cf"  # 上 in GBK
    ]
    wh = tmp_path / "wh.duckdb"
    assert main(["load", str(d), "--warehouse", str(wh)]) == 1
    assert "it reads as GBK" in capsys.readouterr().err and not wh.exists()
    assert main(["load", str(d), "--warehouse", str(wh), "--encoding", "gbk"]) == 0
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("select city, channel from users order by user_id").fetchall() == [
        ("上海", "app"),
        ("上海", "paid_ads"),
        (None, "微信群"),
    ]
    assert main(["check", str(d), "--encoding", "klingon"]) == 2
    assert "unknown encoding 'klingon'" in capsys.readouterr().err


# --- 12. Out of memory ------------------------------------------------------------------------------


def test_full_disk_names_the_folders_and_changes_nothing(tmp_path, good_warehouse, capsys, monkeypatch):
    # DuckDB's write error on a full disk (seen at 10M users, spilling a median over 1.5 GB of months):
    # the load names both folders it writes to and the setting, exits 2, and leaves the old warehouse.
    import duckdb

    import userops.load as load

    def full(*args, **kwargs):
        raise duckdb.IOException(
            'IO Error: Could not write file "/spill/duckdb_temp_1_storage.tmp": No space left on device'
        )

    monkeypatch.setattr(load, "_build", full)
    monkeypatch.setenv("USEROPS_DUCKDB_TEMP_DIRECTORY", str(tmp_path / "spill"))
    before = digest(good_warehouse)
    d = write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS})
    assert main(["load", str(d), "--warehouse", str(good_warehouse)]) == 2
    err = capsys.readouterr().err
    assert "out of disk space while loading" in err and "No space left on device" in err
    assert f"beside the warehouse ({good_warehouse.parent})" in err
    assert f"duckdb.temp_directory ({tmp_path / 'spill'})" in err
    assert f"nothing loaded: {good_warehouse} is unchanged" in err
    assert digest(good_warehouse) == before and leftovers(good_warehouse) == []


def test_out_of_memory_names_the_setting_not_the_data(tmp_path, good_warehouse, capsys, monkeypatch):
    from userops.db import RESOURCE_ENV

    for var in RESOURCE_ENV.values():  # the environment overrides params: the 1MB below must apply
        monkeypatch.delenv(var, raising=False)
    d = write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS})
    tight = LoadOptions(params=Params.model_validate({"duckdb": {"memory_limit": "1MB"}}))
    before = digest(good_warehouse)
    with pytest.raises(OutOfMemory, match="raise duckdb.memory_limit in the params"):
        load_dir(d, good_warehouse, tight)
    assert digest(good_warehouse) == before
    assert leftovers(good_warehouse) == []
    p = tmp_path / "tight.yaml"
    p.write_text("duckdb:\n  memory_limit: 1MB\n")
    assert main(["check", str(d), "--params", str(p)]) == 2
    err = capsys.readouterr().err
    assert "out of memory while checking" in err and "DuckDB memory limit 1MB" in err
    assert "contract" not in err


# --- 14. 0-byte files, line numbers after quoted newlines, Ctrl-C ------------------------------------


def test_zero_byte_file_is_reported_as_empty(tmp_path, good_warehouse):
    d = write_tables(tmp_path / "in", {"orders": ORDERS})
    (d / "users.csv").write_bytes(b"")
    assert messages(refused(good_warehouse, d)) == [
        "users.csv: column '-': file has a header row (the file is empty: 0 bytes): 0 rows"
    ]


def test_line_numbers_count_the_lines_of_quoted_values(tmp_path, good_warehouse):
    users = [
        dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="app", family_status="two\nlines"),
        dict(user_id=2, registered_at="2026-10-02 09:00:00", channel="app", family_status="a\nb\nc"),
        dict(user_id=3, registered_at="2026-10-02 09:00:00", channel="app", gender="X"),
    ]
    # line 1 header; user 1 lines 2-3; user 2 lines 4-6; user 3 line 7
    ps = refused(good_warehouse, write_tables(tmp_path / "in", {"users": users, "orders": ORDERS[:1]}))
    assert messages(ps) == [
        "users.csv: column 'gender': one of F, M: 1 row; first: line 7 (user_id=3, gender=X)"
    ]


def test_ctrl_c_during_load_exits_cleanly_and_loads_nothing(tmp_path, good_warehouse):
    # A subprocess (about 2 s: a fresh interpreter) paused by the load's test hook once the new
    # warehouse is built but not yet in place; SIGINT is sent only after the hook says so.
    d = write_tables(tmp_path / "in", {"users": USERS + [dict(USERS[0], user_id=3)], "orders": ORDERS})
    marker = tmp_path / "paused"
    before = digest(good_warehouse)
    env = dict(os.environ, USEROPS_LOAD_PAUSE_FILE=str(marker))
    cmd = [sys.executable, "-m", "userops.cli", "load", str(d), "--warehouse", str(good_warehouse)]
    # SIGINT at its default in the child: a pytest-xdist worker may run with SIGINT ignored, and an
    # ignored signal stays ignored across exec (Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for _ in range(600):  # until the hook has written the marker (the process is then paused)
            if marker.exists() and marker.read_text():
                break
            try:
                proc.wait(timeout=0.1)
                break  # exited early: reported below
            except subprocess.TimeoutExpired:
                pass
        assert marker.exists(), f"the load never paused (exit code {proc.poll()}; None: still running)"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err == f"userops load: interrupted; nothing loaded: {good_warehouse} is unchanged\n"
    assert "Traceback" not in err and out == ""
    assert digest(good_warehouse) == before
    assert leftovers(good_warehouse) == []
