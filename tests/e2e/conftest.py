"""The one playbook run of the test session, shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from userops.cli import main
from userops.db import connect, last_complete_month

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def run(demo_warehouse, tmp_path_factory):
    """`userops run` on the session demo warehouse: (run folder, month)."""
    with connect(demo_warehouse) as con:
        month = last_complete_month(con)
    out = tmp_path_factory.mktemp("outputs")
    code = main(
        [
            "run",
            "--warehouse",
            str(demo_warehouse),
            "--params",
            str(ROOT / "params" / "default.yaml"),
            "--out",
            str(out),
            "--notebooks",
            str(ROOT / "notebooks"),
        ]
    )
    assert code == 0
    return out / month, month
