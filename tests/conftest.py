"""Shared fixtures: build tiny warehouses from hand-written rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from userops.load import load_dir
from userops.testing import write_tables


@pytest.fixture
def make_warehouse(tmp_path):
    """make_warehouse({"users": [...], "orders": [...]}) -> path of a loaded warehouse."""
    counter = iter(range(1000))

    def _make(tables: dict[str, list[dict]]) -> Path:
        i = next(counter)
        data_dir = write_tables(tmp_path / f"data{i}", tables)
        wh = tmp_path / f"wh{i}.duckdb"
        load_dir(data_dir, wh)
        return wh

    return _make


# A small demo data set, generated and loaded once per test session. The plays' planted-effect
# tests and the end-to-end run share it. Size and seed are fixed, so results are reproducible.
DEMO_USERS = 8000
DEMO_MONTHS = 8
DEMO_SEED = 11


@pytest.fixture(autouse=True)
def _report_language():
    """Every test starts in the default report language (a test that switches it cannot leak)."""
    from userops import i18n

    i18n.set_language(i18n.DEFAULT_LANGUAGE)
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from userops.demo import generate

    out = tmp_path_factory.mktemp("demo") / "data"
    generate(out, users=DEMO_USERS, months=DEMO_MONTHS, seed=DEMO_SEED)
    return out


@pytest.fixture(scope="session")
def planted(demo_dir) -> dict:
    import json

    return json.loads((demo_dir / "planted.json").read_text(encoding="utf-8"))["planted"]


@pytest.fixture(scope="session")
def demo_warehouse(demo_dir, tmp_path_factory) -> Path:
    wh = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    load_dir(demo_dir, wh)
    return wh


@pytest.fixture(scope="session")
def demo_con(demo_warehouse):
    from userops.db import connect

    con = connect(demo_warehouse)
    yield con
    con.close()


@pytest.fixture(scope="session")
def shapes_demo(tmp_path_factory) -> Path:
    """The small demo export that every data shape (userops.shapes) is derived from."""
    from userops.demo import generate

    out = tmp_path_factory.mktemp("shapes") / "demo"
    generate(out, users=800, months=8, seed=5)
    return out


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup reads the markers
def pytest_collection_modifyitems(config, items):
    """Under `pytest -n 2 --dist loadgroup` (make test), every test that uses the session's
    8,000-user demo runs on one worker, so the demo and the full monthly run are built once."""
    for item in items:
        if "demo_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("demo"))
    if getattr(config.option, "loadgroup", False):
        _group_suffix(items)


def _group_suffix(items) -> None:
    """Put each xdist_group test's group into its node id ("...::test@demo"): the controller's loadgroup
    scheduler reads the group from there. pytest-xdist 3.8 writes it into `item._nodeid`, which pytest 9
    no longer reads (node ids live in `item._id`), so without this every group was split across the
    workers and each worker built the demo, its warehouse and the full monthly run again."""
    from _pytest.nodeid import NodeId

    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})  # fmt: skip
        if groups and "@" not in item.nodeid and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")
