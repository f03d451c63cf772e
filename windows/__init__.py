"""Rolling KPI windows in Redis.

This package owns the KPI arithmetic (pure functions in :mod:`windows.kpi`,
:mod:`windows.histogram`, :mod:`windows.buckets`) and the thin Redis layers that
write (:mod:`windows.writer`) and read (:mod:`windows.reader`) it. It never
imports Faust: streams feed it normalized :class:`windows.events.Event` objects.
"""

from windows._core import check_compiled

check_compiled()
