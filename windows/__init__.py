"""The KPI windows in Redis: the one key builder (:mod:`windows.keys`), the batch planning
(:mod:`windows.plan`, pure: which records count and the script call they make), the writer
(:mod:`windows.writer` with ``lua/apply_batch.lua``, ``lua/read_batch.lua``,
``lua/admit_values.lua``), the reader that merges the partitions (:mod:`windows.reader`) and
the Redis clients (:mod:`windows.clients`).

The KPI arithmetic it stores is :mod:`kpi`'s; this package never imports Faust or a Kafka
client: :mod:`streams` hands it validated records.
"""

from kpi._core import check_compiled

check_compiled()
