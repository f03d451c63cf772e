"""What a KPI is: the pure KPI core.

Every KPI is declared once in :mod:`kpi.catalog` (of the kinds in :mod:`kpi.kinds`), and
its arithmetic is a pure function of a conversation's events
(:mod:`kpi.conversation`: contributions to the windows and the live state; :mod:`kpi.fcr`,
:mod:`kpi.sla`, :mod:`kpi.calendar`, :mod:`kpi.histogram`). :mod:`kpi.deltas` turns a
change of contribution into bucket increments, :mod:`kpi.rows` and :mod:`kpi.span` are the
read side's arithmetic, :mod:`kpi.config` the configuration they take (as plain values).

This package imports no I/O library and nothing of the project but itself: the Redis
store is :mod:`windows`, the Kafka side :mod:`streams`. The per-event path is compiled by
mypyc at install (``setup.py``); :mod:`kpi._core` refuses a stale build.
"""

from kpi._core import check_compiled

check_compiled()
