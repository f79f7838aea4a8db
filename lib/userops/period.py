"""The report period: one month, its neighbours and the as-of day, resolved once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from userops.db import month_bounds


@dataclass(frozen=True)
class Period:
    """A report month. `start`/`end` are the half-open month; `as_of` its last day.

    Every play reports as of the month's last day, so a past month's report does
    not change when later data arrives.
    """

    month: str

    @property
    def start(self) -> dt.date:
        return month_bounds(self.month)[0]

    @property
    def end(self) -> dt.date:
        return month_bounds(self.month)[1]

    @property
    def as_of(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def cutoff(self) -> dt.datetime:
        """The first instant after the month."""
        return dt.datetime.combine(self.end, dt.time())

    def shift(self, months: int) -> Period:
        y, m = self.start.year, self.start.month - 1 + months
        return Period(f"{y + m // 12:04d}-{m % 12 + 1:02d}")

    @property
    def prev(self) -> Period:
        return self.shift(-1)

    @property
    def label(self) -> str:
        return self.start.strftime("%B %Y")

    @property
    def short(self) -> str:
        return self.start.strftime("%b %Y")
