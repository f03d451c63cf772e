"""The read clock: the wall clock on a live floor (a quiet night included), the history's
own time during a replay, a backfill or a rebuild, and after one."""

from __future__ import annotations

from windows.reader import ACTIVE_INPUT_MS, low_watermark, read_time

NOW = 1_800_000_000_000
MIN = 60_000
YEAR = 365 * 86_400_000
CATCH_UP = 10 * MIN


def test_a_live_floor_reads_the_wall_clock() -> None:
    t = read_time(NOW, NOW - 2_000, NOW - 500, CATCH_UP)
    assert not t.catching_up
    assert t.window_end_ms == NOW and t.live_ms == NOW


def test_a_quiet_night_is_not_catching_up_and_ages_keep_growing() -> None:
    # the last event 3 h ago, applied when it happened: the event clock runs on with the wall
    t = read_time(NOW, NOW - 180 * MIN, NOW - 180 * MIN + 300, CATCH_UP)
    assert not t.catching_up and t.live_ms == NOW
    assert NOW - t.event_ms < 1_000


def test_a_replay_of_old_history_is_catching_up_and_measures_at_its_time() -> None:
    history = NOW - 16 * YEAR
    t = read_time(NOW, history, NOW - 100, CATCH_UP)
    assert t.catching_up
    assert t.live_ms == history + 100  # never older than the history itself
    assert t.window_end_ms == NOW  # the wall clock reads the windows unless told otherwise


def test_after_the_replay_the_event_clock_runs_on_from_where_the_history_stopped() -> None:
    history = NOW - 16 * YEAR
    t = read_time(NOW, history, NOW - 30 * MIN, CATCH_UP)
    assert t.catching_up and t.live_ms == history + 30 * MIN


def test_the_event_read_clock_ends_windows_at_the_history() -> None:
    yesterday = NOW - 86_400_000
    t = read_time(NOW, yesterday, NOW - 1_000, CATCH_UP, event_windows=True)
    assert t.window_end_ms == yesterday + 1_000 == t.live_ms


def test_nothing_applied_yet_reads_the_wall_clock_and_future_skew_is_clamped() -> None:
    assert read_time(NOW, None, None, CATCH_UP).event_ms == NOW
    assert read_time(NOW, NOW + 120_000, NOW, CATCH_UP).event_ms == NOW


def test_during_a_replay_live_ages_wait_for_the_input_furthest_behind() -> None:
    # at 240x, tickets:3 five seconds behind chats:0 is twenty simulated minutes
    history = NOW - 10 * 60 * MIN
    inputs = {"support.chats:0": (history, NOW - 100),
              "support.tickets:3": (history - 20 * MIN, NOW - 100)}
    low = low_watermark(NOW, inputs)
    assert low == history - 20 * MIN + 100
    t = read_time(NOW, history, NOW - 100, CATCH_UP, event_windows=True, low_ms=low)
    assert t.live_ms == low and t.window_end_ms == history + 100


def test_an_idle_input_does_not_hold_the_clock_back() -> None:
    inputs = {"support.chats:0": (NOW - 5 * MIN, NOW - 200),
              "support.tickets:1": (NOW - 90 * MIN, NOW - ACTIVE_INPUT_MS - 1)}
    assert low_watermark(NOW, inputs) == NOW - 5 * MIN + 200
    assert low_watermark(NOW, {"support.tickets:1": inputs["support.tickets:1"]}) is None


def test_a_live_floor_ignores_the_inputs_clocks() -> None:
    t = read_time(NOW, NOW - 2_000, NOW - 500, CATCH_UP, low_ms=NOW - 60_000)
    assert t.live_ms == NOW
