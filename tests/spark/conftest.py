"""Spark tests: which run in `make test` and which only in `make test-spark`.

Every test that starts a JVM (a SparkSession, the differential test of each metric SQL file, the
notebooks on Spark) runs with USEROPS_SPARK_FULL=1 (`make test-spark`): on this 2-core machine the
differential module alone takes many minutes, far beyond `make test`'s 10-minute budget. `make test`
keeps the checks that need no JVM: every SQL file has a differential case
(test_differential.py::test_every_sql_file_has_a_case) and the transpiler's rewrites
(tests/unit/test_spark_sql.py).

`connect_url` is one local Spark Connect server (userops.spark_server) for the whole session: the
Connect path of the engine (params spark.remote) and the notebooks' kernels, which connect to it
instead of each starting a JVM.
"""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("USEROPS_SPARK_FULL") == "1"
JVM_FIXTURES = {"spark", "spark_con", "duck", "small", "connect_url"}


def pytest_collection_modifyitems(config, items):
    if FULL:
        return
    skip = pytest.mark.skip(reason="starts Spark: run with `make test-spark` (USEROPS_SPARK_FULL=1)")
    for item in items:
        if JVM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def connect_url(tmp_path_factory):
    """sc://127.0.0.1:<port> of a local Spark Connect server, stopped at the end of the session; its
    catalog (in memory) keeps managed tables under a temporary spark.sql.warehouse.dir."""
    from userops.spark_server import LocalConnectServer

    root = tmp_path_factory.mktemp("spark-connect")  # its log, and its catalog's managed tables
    conf = {"spark.sql.warehouse.dir": str(root / "spark-warehouse")}
    with LocalConnectServer(conf=conf, log=root / "server.log") as url:
        yield url
