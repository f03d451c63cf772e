"""A read side with fixed contents, so the collectors, the wall model, the HTTP server and
the query tables can be tested without Redis. Rows are real summaries (``summarize``)
of hand-written bucket fields; the Redis-backed reader is tested in tests/integration/."""

from __future__ import annotations

from collections.abc import Mapping

from alerts.state import AlertState
from kpi import histogram
from kpi.config import KpiConfig, WindowSpec, windows_from_text
from kpi.rows import summarize
from windows.reader import PipelineStats, ReadTime, WindowSnapshot, read_time

CFG = KpiConfig(windows=windows_from_text("5m,1h"))
NOW_MS = 1_800_000_000_000

# two queues: billing (2 FRTs of 30 s and 90 s both within the SLA, 4 completed all
# human-answered, 1 FCR, 3 escalated, 2 CSAT of which 1 satisfied), tech (nothing completed)
BILLING = {"vol_created": 4, "frt_s": 120_000,
           f"frt_h:{histogram.bin_of_ms(30_000)}": 1, f"frt_h:{histogram.bin_of_ms(90_000)}": 1,
           "sla_ok": 2, "sla_n": 2, "done_n": 4, "fcr_d": 4, "fcr_n": 1, "esc_n": 3,
           "csat_n": 2, "csat_pos": 1, "csat_sm": 7000}
TECH = {"vol_created": 1}


def rows() -> dict[str, dict[str, float | None]]:
    total = {k: BILLING.get(k, 0) + TECH.get(k, 0) for k in {*BILLING, *TECH}}
    return {"*": summarize(total), "queue=billing": summarize(BILLING),
            "queue=tech": summarize(TECH)}


GAUGES: dict[str, dict[str, float | None]] = {
    "*": {"open": 3, "waiting": 2, "oldest_waiting_seconds": 125.0, "breaching": 1},
    "queue=tech": {"open": 1, "waiting": 1, "oldest_waiting_seconds": 125.0, "breaching": 1},
    "queue=billing": {"open": 2, "waiting": 1, "oldest_waiting_seconds": 10.0, "breaching": 0},
}


class FixedReader:
    def __init__(self, last_applied_ms: int | None = NOW_MS - 1000,
                 last_event_ms: int = NOW_MS - 5000, catch_up_ms: int = 600_000,
                 event_windows: bool = False) -> None:
        self.config = CFG
        self._event_windows = event_windows
        self._last = last_applied_ms
        self._last_event = last_event_ms
        self._catch_up_ms = catch_up_ms
        self.gauges_at: list[int] = []

    def read_time(self, stats: PipelineStats | None = None) -> ReadTime:
        return read_time(NOW_MS, self._last_event, self._last, self._catch_up_ms,
                         self._event_windows)

    def window(self, window: WindowSpec, at_ms: int) -> WindowSnapshot:
        return WindowSnapshot(window, at_ms, rows())

    def all_windows(self, at_ms: int) -> list[WindowSnapshot]:
        return [self.window(w, at_ms) for w in CFG.windows]

    def gauges(self, at_ms: int, *, own_clocks: bool = False
               ) -> dict[str, dict[str, float | None]]:
        self.gauges_at.append(at_ms)
        return GAUGES

    def live(self, at_ms: int, *, own_clocks: bool = False
             ) -> tuple[dict[str, dict[str, float | None]], int]:
        return self.gauges(at_ms), 0

    def stats(self) -> PipelineStats:
        counters = {"processed:tickets": 10, "rejected:not_json": 2, "late:ticket.message": 1,
                    "duplicate:event_id": 4, "last_event_ms": self._last_event}
        if self._last is not None:
            counters["last_applied_ms"] = self._last
        return PipelineStats(counters=counters, offsets={"tickets:0": 9}, epoch="e1",
                             store={"epoch": "e1", "lost_before_ms": "0"})


class FixedAlerts:
    def __init__(self, states: Mapping[str, AlertState] | None = None) -> None:
        self.states = dict(states or {})

    def read(self) -> dict[str, AlertState]:
        return dict(self.states)
