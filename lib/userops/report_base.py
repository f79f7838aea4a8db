"""What every play's report run shares: the play's context and the handles its sections read.

Each play's report module (``acquisition_report``, ``retention_report``, ``activity_report``,
``recall_report``, ``persona_report``) keeps what its sections computed in a dataclass derived from
:class:`PlayRun`, adding its own fields and its own parameter block (``run.rp``, ``run.rc`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from userops.period import Period


@dataclass
class PlayRun:
    """The play's context (``context.open_play``): its month, metrics report, connection and params."""

    ctx: object

    @property
    def P(self) -> Period:
        """The report month."""
        return self.ctx.period

    @property
    def rep(self):
        """The run's metrics report (metrics.json)."""
        return self.ctx.report

    @property
    def con(self):
        return self.ctx.con

    @property
    def dp(self):
        """params ``data``: how the chain's data is read."""
        return self.ctx.params.data

    @property
    def exp(self):
        """params ``experiments``: holdouts, margin rate, intervals."""
        return self.ctx.params.experiments
