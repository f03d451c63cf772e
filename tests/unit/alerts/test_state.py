"""The alert state machine: for, hysteresis, min samples, no data, restarts."""

from __future__ import annotations

from alerts.rules import Rule
from alerts.state import AlertState, Transition, step

S = 1000


def rule(**kw: object) -> Rule:
    base: dict[str, object] = {"name": "frt_high", "kpi": "first_response", "statistic": "p90",
                               "window": "15m", "comparison": ">", "threshold": 600,
                               "for": "60s"}
    base.update(kw)
    return Rule.model_validate(base)


def run(r: Rule, values: list[float | None], every_s: int = 10, samples: int = 100,
        state: AlertState | None = None) -> tuple[AlertState, list[tuple[int, str]]]:
    st = state or AlertState()
    kinds: list[tuple[int, str]] = []
    for i, v in enumerate(values):
        st, tr = step(r, st, v, samples, i * every_s * S)
        kinds += [(i, t.kind) for t in tr]
    return st, kinds


def test_crossing_for_less_than_for_never_fires() -> None:
    # 50 s above the threshold (evaluations at 0..50 s), then healthy
    st, kinds = run(rule(), [700] * 6 + [500] * 5)
    assert st.status == "ok"
    assert [k for _, k in kinds] == ["pending", "cancelled"]


def test_fires_after_for_and_resolves_exactly_once() -> None:
    st, kinds = run(rule(), [700] * 7 + [500] * 10)
    assert kinds == [(0, "pending"), (6, "firing"), (7, "resolved")]
    assert st.status == "ok"


def test_zero_for_fires_at_once() -> None:
    _, kinds = run(rule(**{"for": "0s"}), [700])
    assert kinds == [(0, "pending"), (0, "firing")]


def test_hysteresis_prevents_flapping() -> None:
    oscillating = [700, 590, 610, 580, 620, 590, 610] * 4  # around 600, never below 480
    r = rule(clear=480, **{"for": "0s"})
    st, kinds = run(r, oscillating)
    assert [k for _, k in kinds] == ["pending", "firing"]
    assert st.status == "firing"
    st, kinds = run(r, [480], state=st)
    assert [k for _, k in kinds] == ["resolved"]
    # without hysteresis the same series flaps
    _, flapping = run(rule(**{"for": "0s"}), oscillating)
    assert sum(1 for _, k in flapping if k == "firing") > 5


def test_too_few_samples_never_fires() -> None:
    st, kinds = run(rule(min_samples=20, **{"for": "0s"}), [9999] * 10, samples=19)
    assert st.status == "ok" and kinds == []
    _, kinds = run(rule(min_samples=20, **{"for": "0s"}), [9999], samples=20)
    assert [k for _, k in kinds] == ["pending", "firing"]


def test_no_data_cancels_pending_and_keeps_firing_by_default() -> None:
    st, kinds = run(rule(), [700, None])
    assert st.status == "ok" and [k for _, k in kinds] == ["pending", "cancelled"]
    st, _ = run(rule(**{"for": "0s"}), [700])
    st2, kinds = run(rule(**{"for": "0s"}), [None, None], state=st)
    assert st2.status == "firing" and kinds == []
    st3, kinds = run(rule(no_data="resolve", **{"for": "0s"}), [None], state=st)
    assert st3.status == "ok" and [k for _, k in kinds] == ["resolved"]


def test_lower_is_worse_comparisons() -> None:
    r = rule(kpi="fcr", statistic="ratio", comparison="<", threshold=0.6, clear=0.7,
             **{"for": "0s"})
    _, kinds = run(r, [0.55, 0.65, 0.69, 0.7])
    assert [k for _, k in kinds] == ["pending", "firing", "resolved"]
    assert [i for i, k in kinds if k == "resolved"] == [3]


def test_restart_resumes_every_state() -> None:
    """State round-trips through its stored JSON; resuming emits nothing new."""
    r = rule()
    for values, want in (([500], "ok"), ([700], "pending"), ([700] * 8, "firing")):
        st, _ = run(r, values)
        assert st.status == want
        restored = AlertState.from_json(st.to_json())
        assert restored == st
        # the same observation after a restart: no duplicate page, no lost pending timer
        again, tr = step(r, restored, values[-1], 100, (len(values) - 1) * 10 * S)
        assert again.status == want and tr == []
    # pending resumed after a restart keeps its original start: fires on time
    st, _ = run(r, [700] * 3)  # pending since 0 s
    st = AlertState.from_json(st.to_json())
    st, tr = step(r, st, 700, 100, 60 * S)
    assert [t.kind for t in tr] == ["firing"] and isinstance(tr[0], Transition)
