"""The Kafka clients' repeated log lines are rate-limited, and say how many were held."""

from __future__ import annotations

import logging

from supportkpi.log_filter import RepeatedLogFilter


def rec(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_one_line_per_template_per_period_then_the_count() -> None:
    now = [0.0]
    f = RepeatedLogFilter(every_s=30, clock=lambda: now[0])
    passed = []
    for i in range(1000):
        now[0] = i * 0.1  # 100 s of a tight retry loop
        r = rec("aiokafka.client", "Unable connect to node with id %s: %s", 1, "refused")
        if f.filter(r):
            passed.append(r.getMessage())
    assert len(passed) == 4  # at 0, 30, 60 and 90 s
    assert passed[0] == "Unable connect to node with id 1: refused"
    assert passed[1].endswith("[299 more like this in the last 30s]")


def test_other_templates_and_other_loggers_are_untouched() -> None:
    f = RepeatedLogFilter(every_s=30, clock=lambda: 0.0)
    assert f.filter(rec("aiokafka.client", "a %s", 1))
    assert f.filter(rec("aiokafka.client", "b %s", 1))  # another template
    assert f.filter(rec("kafka.net.manager", "a %s", 1))  # another logger
    for _ in range(5):
        assert f.filter(rec("streams.app", "a %s", 1))  # ours are never limited
        assert f.filter(rec("aiokafkaish", "a %s", 1))  # not under the prefix
    assert not f.filter(rec("aiokafka.client", "a %s", 2))  # same template, new args


def test_the_first_start_coordinator_error_is_quiet_only_during_the_grace() -> None:
    import logging

    from supportkpi.log_filter import StartupGrace

    now = [0.0]
    grace = StartupGrace(grace_s=60, clock=lambda: now[0])

    def rec(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)

    transient = "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError"
    assert not grace.filter(rec("aiokafka.consumer.group_coordinator", transient))
    assert grace.filter(rec("aiokafka.conn", "Unable to connect"))
    assert grace.filter(rec("streams.app", transient))
    now[0] = 61.0
    assert grace.filter(rec("aiokafka.consumer.group_coordinator", transient))


def test_a_timer_that_keeps_overlapping_is_said_once_per_period() -> None:
    import logging

    from supportkpi.log_filter import RepeatedLogFilter

    now = [0.0]
    flt = RepeatedLogFilter(every_s=30, clock=lambda: now[0])

    def record() -> logging.LogRecord:
        return logging.LogRecord("mode.timers", logging.WARNING, __file__, 1,
                                 "Timer %s is overlapping (interval=%r runtime=%r)",
                                 ("evaluate_alerts", 0.25, 0.5), None)

    passed = []
    for _ in range(10):
        passed.append(flt.filter(record()))
        now[0] += 1
    assert passed == [True] + [False] * 9
    now[0] = 31
    r = record()
    assert flt.filter(r) and "[9 more like this" in str(r.msg)
