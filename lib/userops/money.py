"""One money basis for every play: paid GMV, gross margin, campaign cost, ROI and CAC, defined once.

- **Paid GMV**: what customers paid (orders.gmv), net of coupons and promotions. A coupon's
  cost is already inside paid GMV (the customer paid less) and is never added again as a cost.
- **Gross margin**: paid GMV - cost of goods (quantity x products.unit_cost, per order in
  ``fct_order_margin``). Where the cost of goods is unknown, paid GMV x an assumed margin rate
  (params ``experiments.assumed_margin_rate``), and the figure is labelled as assumed.
- **Campaign cost**: touches x cost per touch, plus any fixed cost per campaign (params).
- **ROI** = (incremental gross margin - campaign cost) / campaign cost. A revenue ratio, where
  shown, is called "GMV per yuan spent", never ROI.
- **Verdict** on a campaign (``verdict``): keep, keep testing against the holdout, rethink, or
  test, decided by one rule from its effect interval and its ROI interval in every play.
- **CAC** = (channel spend + referral commissions + acquisition coupon cost actually redeemed)
  / new customers; each part is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PAID_GMV = "paid GMV (net of discounts)"
GROSS_MARGIN = "gross margin (paid GMV - cost of goods)"
ASSUMED_MARGIN = "gross margin at an assumed {rate:.0%} of paid GMV (no cost of goods in the data)"
ROI_DEFINITION = "ROI = (incremental gross margin - campaign cost) / campaign cost"
GMV_PER_YUAN = "incremental paid GMV per unit of campaign cost (a revenue ratio, not ROI)"
CAC_DEFINITION = "CAC = (channel spend + referral commissions + acquisition coupons redeemed) / new customers"
MIXED_MARGIN = (
    "gross margin (paid GMV - cost of goods where known; an assumed {rate:.0%} of paid GMV for the "
    "{share:.0%} of paid GMV without a cost of goods)"
)


def margin_label(assumed_rate: float | None) -> str:
    """The basis of a margin figure: measured, or assumed at a stated rate."""
    return GROSS_MARGIN if assumed_rate is None else ASSUMED_MARGIN.format(rate=assumed_rate)


def margin_basis(assumed_share: float, assumed_rate: float | None) -> str:
    """The basis of a margin figure in which `assumed_share` of paid GMV had no cost of goods:
    measured (0), assumed at the params rate (1), or mixed (stated with both numbers)."""
    if assumed_rate is None or assumed_share <= 0:
        return GROSS_MARGIN
    if assumed_share >= 1:
        return ASSUMED_MARGIN.format(rate=assumed_rate)
    return MIXED_MARGIN.format(rate=assumed_rate, share=assumed_share)


def per_yuan_spent(amount: float | None, cost: float | None) -> float | None:
    """Margin or paid GMV per yuan spent (observational, never ROI); None without a positive cost."""
    if amount is None or cost is None or cost <= 0 or math.isnan(amount):
        return None
    return float(amount) / float(cost)


def campaign_cost(touches: float, cost_per_touch: float | None, fixed_cost: float = 0.0) -> float | None:
    """Touches x cost per touch + fixed cost; None when the cost per touch is unknown."""
    if cost_per_touch is None or (isinstance(cost_per_touch, float) and math.isnan(cost_per_touch)):
        return None
    if cost_per_touch < 0 or fixed_cost < 0 or touches < 0:
        raise ValueError("costs and touches cannot be negative")
    return float(touches) * float(cost_per_touch) + float(fixed_cost)


def roi(incremental_margin: float | None, cost: float | None) -> float | None:
    """(incremental gross margin - cost) / cost; None without a positive cost or a margin."""
    if incremental_margin is None or cost is None or cost <= 0 or math.isnan(incremental_margin):
        return None
    return (float(incremental_margin) - float(cost)) / float(cost)


KEEP, MEASURE, RETHINK, TEST = "keep", "measure", "rethink", "test"


def _finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and math.isfinite(x)


def verdict(
    effect_clear: bool,
    roi_value: float | None,
    roi_ci: tuple[float | None, float | None],
    cost_known: bool = True,
) -> str:
    """What to do with a campaign measured against its randomised holdout, the one rule every play uses.

    - ``rethink``: the ROI-on-margin interval lies wholly below 0: it loses money, whatever its lift.
    - ``test``: no clear effect (the effect interval includes 0): keep testing with the holdout.
    - ``keep``: a clear effect and an ROI interval at or above 0, or no cost at all (no ROI).
    - ``measure``: a clear effect whose ROI interval includes a loss, or cannot be computed (no
      interval, or the cost per touch is unknown): keep it only against a holdout until it is shown
      to pay back.
    """
    roi_value = roi_value if _finite(roi_value) else None
    lo, hi = roi_ci
    known = roi_value is not None and _finite(lo) and _finite(hi)
    if known and hi < 0:
        return RETHINK
    if not effect_clear:
        return TEST
    if roi_value is None:
        return KEEP if cost_known else MEASURE
    return KEEP if known and lo >= 0 else MEASURE


def gmv_per_yuan(incremental_gmv: float | None, cost: float | None) -> float | None:
    """Incremental paid GMV / cost (a revenue ratio, never called ROI); None without a cost."""
    if incremental_gmv is None or cost is None or cost <= 0 or math.isnan(incremental_gmv):
        return None
    return float(incremental_gmv) / float(cost)


@dataclass(frozen=True)
class Cac:
    """Customer acquisition cost of one channel (or all channels) over a period, with its parts."""

    spend: float
    commissions: float
    coupons_redeemed: float  # face value of acquisition (new-user pack) coupons actually redeemed
    new_customers: int

    @property
    def total_cost(self) -> float:
        return self.spend + self.commissions + self.coupons_redeemed

    @property
    def value(self) -> float | None:
        """Cost per new customer; None when there is no new customer."""
        return self.total_cost / self.new_customers if self.new_customers > 0 else None

    def parts(self) -> dict[str, float]:
        return {
            "channel spend": self.spend,
            "referral commissions": self.commissions,
            "acquisition coupons redeemed": self.coupons_redeemed,
        }


def ltv_cac(ltv_margin: float | None, cac: Cac) -> float | None:
    """Margin LTV / CAC (both per new customer); None when either is missing or CAC is 0."""
    v = cac.value
    if ltv_margin is None or v is None or v <= 0 or math.isnan(ltv_margin):
        return None
    return float(ltv_margin) / v
