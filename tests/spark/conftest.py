"""Spark tests: which run in `make test` and which only in `make test-spark`.

Every test that starts a JVM (a SparkSession, the differential test of each metric SQL file, the
notebooks on Spark) runs with USEROPS_SPARK_FULL=1 (`make test-spark`): on this 2-core machine the
differential module alone takes many minutes, far beyond `make test`'s 10-minute budget. `make test`
keeps the checks that need no JVM: every SQL file has a differential case
(test_differential.py::test_every_sql_file_has_a_case) and the transpiler's rewrites
(tests/unit/test_spark_sql.py).
"""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("USEROPS_SPARK_FULL") == "1"
JVM_FIXTURES = {"spark", "spark_con", "duck", "small"}


def pytest_collection_modifyitems(config, items):
    if FULL:
        return
    skip = pytest.mark.skip(reason="starts Spark: run with `make test-spark` (USEROPS_SPARK_FULL=1)")
    for item in items:
        if JVM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)
