"""One value per shared concept across the session's monthly run (issue 13, the consistency check).

Reuses the e2e `run` fixture (tests/e2e/conftest.py; no run of its own). A concept several plays
report (new users, core tier size, reactivated users, 30-day repurchase rate, CAC, buyers) has one
value wherever it appears in metrics.json, and the reports print that value (as formatted) where
they print the concept: the markdown and HTML outputs of the executed notebooks in the run folder.
"""

from __future__ import annotations

import json
import re

import pytest

from userops import charts
from userops.period import Period

pytestmark = pytest.mark.e2e

BRIEF, ACQ, RET, ACT, RECALL, PERSONA = (
    "00_monthly_brief",
    "01_acquisition",
    "02_new_user_retention",
    "03_active_incentives",
    "04_churn_recall",
    "05_personas",
)


@pytest.fixture(scope="module")
def metrics(run) -> dict:
    """{play: {key: value}} from the run's metrics.json."""
    folder, _ = run
    doc = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    return {play: {k: m["value"] for k, m in p["metrics"].items()} for play, p in doc["plays"].items()}


@pytest.fixture(scope="module")
def currency(run) -> str:
    folder, _ = run
    doc = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    return doc["provenance"]["params"]["data"]["currency_symbol"]


@pytest.fixture(scope="module")
def text(run) -> dict[str, str]:
    """{play: the text a reader sees}: markdown outputs and HTML outputs without tags or styles."""
    folder, _ = run
    out = {}
    for path in sorted((folder / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        parts = []
        for cell in nb["cells"]:
            for o in cell.get("outputs", []):
                data = o.get("data", {})
                for mime in ("text/markdown", "text/html"):
                    if mime in data:
                        t = "".join(data[mime]) if isinstance(data[mime], list) else data[mime]
                        t = re.sub(r"<style.*?</style>", " ", t, flags=re.S)
                        parts.append(re.sub(r"<[^>]+>", " ", t))
        out[path.stem] = "\n".join(parts)
    return out


def _values(metrics: dict, places: list[tuple[str, str]]) -> dict[str, float]:
    """The value at each (play, key) that the run has; every listed play ran in the session run."""
    got = {}
    for play, key in places:
        assert play in metrics, f"{play} wrote no metrics in the session run"
        assert key in metrics[play], f"{play} has no metric {key!r}: the test's list of places is stale"
        got[f"{play}:{key}"] = metrics[play][key]
    return got


def _printed(text: str, shown: str) -> bool:
    """Is the formatted number printed as a whole number token (744 not inside 1,744 or 744.5)?"""
    return re.search(rf"(?<![\d.,]){re.escape(shown)}(?![\d]|[.,]\d)", text) is not None


def test_new_users_one_value(metrics, text):
    """New users of the month (first order ever in the month): the brief's tile, plays 01, 02 and 04."""
    v = _values(
        metrics,
        [
            (BRIEF, "kpi.new_buyers"),
            (ACQ, "new_users"),
            (RET, "new_users"),
            (RECALL, "stage_users.new"),
        ],
    )
    assert len(set(v.values())) == 1, v
    shown = charts.fmt_int(next(iter(v.values())))
    for play in (BRIEF, ACQ, RET, RECALL):  # the plays that print the month's new users
        assert _printed(text[play], shown), f"{play} does not print the month's {shown} new users"


def test_core_tier_one_value(metrics, text):
    """Core tier (核心) at the month's end: play 03's tier movement and play 05's tier sizes."""
    v = _values(metrics, [(ACT, "tier_core_end"), (PERSONA, "tier_users.core")])
    assert len(set(v.values())) == 1, v
    shown = charts.fmt_int(next(iter(v.values())))
    for play in (ACT, PERSONA):
        assert _printed(text[play], shown), f"{play} does not print the core tier's {shown} users"


def test_buyers_of_the_month_one_value(metrics):
    """Buyers of the month: the brief's tile and play 03's order-based MAU."""
    v = _values(metrics, [(BRIEF, "kpi.buyers"), (ACT, "mau_orders")])
    assert len(set(v.values())) == 1, v


def test_reactivated_users_one_value(metrics, text):
    """Reactivated users of the month (churned at the previous month end, ordered in the month): the
    brief's 唤醒 tile and play 04's count, printed by both."""
    v = _values(metrics, [(BRIEF, "kpi.reactivated"), (RECALL, "reactivated_users")])
    assert len(set(v.values())) == 1, v
    shown = charts.fmt_int(next(iter(v.values())))
    for play in (BRIEF, RECALL):
        assert _printed(text[play], shown), f"{play} does not print the month's {shown} reactivated users"


def test_repurchase_30d_one_value(metrics, text, run):
    """30-day repurchase rate of a month's buyers: one metric (play 03), printed as such; the brief's
    key path quotes the same definition on the same (latest complete) month for its segments."""
    _, month = run
    places = [
        (play, k) for play, ms in metrics.items() for k in ms if re.fullmatch(r"repurchase_rate_\d+d", k)
    ]
    assert places == [(ACT, "repurchase_rate_30d")], places
    rate = metrics[ACT]["repurchase_rate_30d"]
    assert 0 < rate < 1
    assert _printed(text[ACT], charts.fmt_pct(rate)), (
        f"play 03 does not print its rate {charts.fmt_pct(rate)}"
    )
    # the brief's buy-again step and play 03 measure the same month (the latest whose window is complete)
    doc = json.loads((run[0] / "metrics.json").read_text(encoding="utf-8"))
    measured = doc["plays"][ACT]["metrics"]["repurchase_rate_30d"]["period"]
    buy_again = doc["plays"][BRIEF]["metrics"]["funnel.online.buy_again"]["definition"]
    assert Period(measured).label in buy_again, (measured, buy_again)


def test_cac_one_value(metrics, text, currency):
    """CAC: play 01 owns it (cac.<channel>, cac.all); no other play reports another CAC, and every
    'CAC <money>' a report prints (play 01 and the brief quoting its actions) is one of those values."""
    cac = {k: v for k, v in metrics[ACQ].items() if k.startswith("cac.")}
    assert "cac.all" in cac
    elsewhere = [(p, k) for p, ms in metrics.items() if p != ACQ for k in ms if re.match(r"(kpi\.)?cac\b", k)]
    assert elsewhere == [], elsewhere
    pattern = re.compile(rf"(?:CAC|获客成本)\s*[:：]?\s*{re.escape(currency)}([\d,]+(?:\.\d+)?)")
    found = 0
    for play, t in text.items():
        for m in pattern.finditer(t):
            shown = m.group(1)
            digits = len(shown.split(".")[1]) if "." in shown else 0
            value = float(shown.replace(",", ""))
            assert any(abs(round(v, digits) - value) < 1e-9 for v in cac.values()), (
                f"{play} prints CAC {currency}{shown}, which is none of play 01's CAC values {cac}"
            )
            found += 1
    assert found, "no report prints a CAC figure: the pattern is stale"
    assert _printed(text[ACQ], charts.fmt_yuan(cac["cac.all"], 1).lstrip(currency)), (
        "01 does not print CAC (all)"
    )
