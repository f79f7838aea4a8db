"""Run parameters: every threshold and window, validated on load.

params/default.yaml holds the defaults; a month- or scenario-specific file may
override them (it is validated the same way). Unknown keys, wrong types and
out-of-range values are errors that name the file and the key.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionParams(_Section):
    """Play 2: new-user 7-day retention."""

    max_day: int = Field(7, ge=1, le=30, description="Dk retention for k = 1..max_day")
    daily_cohort_days: int = Field(
        28, ge=7, le=92, description="daily first-order cohorts shown, ending at month end"
    )
    weekly_cohort_weeks: int = Field(12, ge=2, le=52, description="weekly first-order cohorts shown")
    channel_trailing_months: int = Field(3, ge=1, le=12, description="months of cohorts pooled per channel")
    second_order_days: int = Field(7, ge=1, le=30, description="window for the 2nd-order share")
    km_horizon_days: int = Field(30, ge=7, le=180, description="time-to-2nd-order curve horizon")
    min_cohort_users: int = Field(20, ge=1, description="cohorts smaller than this are flagged as noisy")
    reminder_hours: int = Field(
        48, ge=1, le=168, description="remind coupons expiring this soon after month end"
    )
    reminder_holdout_share: float = Field(0.3, gt=0, lt=1, description="randomised holdout share of the list")
    reminder_seed: int = Field(20261, description="seed of the holdout draw")
    ci_level: float = Field(0.95, gt=0.5, lt=1)


class Params(_Section):
    chain_name: str = Field("鲜邻便利", description="chain name on the PDF cover")
    offline_channels: list[str] = Field(
        default_factory=lambda: ["store_poster_qr", "store_promoter"],
        description="acquisition channels counted as offline; all others are online",
    )
    retention: RetentionParams = Field(default_factory=RetentionParams)


class ParamsError(ValueError):
    pass


def load_params(path: str | Path) -> Params:
    """Read and validate a params YAML file; errors name the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ParamsError(f"params file {path} not found") from None
    except yaml.YAMLError as e:
        raise ParamsError(f"params file {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"params file {path}: top level must be a mapping of keys")
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  - {key}: {msg} (got {err.get('input')!r})")
        raise ParamsError(f"params file {path}:\n" + "\n".join(lines)) from None
