"""The page's stats samples without their unchanged reports (docs/protocol.md "Inspection").

A page's getStats sample is 16-19 reports and 6.6-7.5 KB for one camera, and 10-13 of
those reports (the codec, the candidates, the pairs not in use) change nothing but their
``timestamp`` from one second to the next. The page sends those by id only, in the
sample's ``same`` list; :class:`CarriedReports` puts the previous sample's version back,
with the sample's newest timestamp, so the stats series and the Inspector see whole
samples as before. On the control channel a sample is 2.8 KB, 3 SCTP chunks instead of 6
(the kernel's SCTP work for them went from 1.6 to 1.0 ms a second, parsing from 0.38 to
0.18 ms).

A ``same`` id the kernel does not hold (a sample it never saw) is left out of that sample;
the page sends a whole sample every few seconds and whenever its path or peer changes.

Threads: media loop only (one instance per stream).
"""

from __future__ import annotations

from typing import Any

Report = dict[str, Any]


class CarriedReports:
    """The newest whole browser sample of one stream, by report id."""

    def __init__(self) -> None:
        self._last: dict[str, Report] = {}
        #: how many ``same`` ids named a report the held sample did not have (left out)
        self.missed = 0

    def take(self, payload: dict[str, Any]) -> list[Report]:
        """The whole sample ``payload`` stands for (a stats payload that passed
        ``protocol``'s checks: ``reports`` and ``same`` are bounded there)."""
        reports: list[Report] = list(payload.get("reports") or [])
        same = payload.get("same") or []
        if same:
            stamps = [r.get("timestamp") for r in reports]
            newest = max(
                (s for s in stamps if isinstance(s, (int, float)) and not isinstance(s, bool)),
                default=None,
            )
            for rid in same:
                old = self._last.get(rid)
                if old is None:
                    self.missed += 1
                    continue
                reports.append(old if newest is None else {**old, "timestamp": newest})
        self._last = {r["id"]: r for r in reports}
        return reports
