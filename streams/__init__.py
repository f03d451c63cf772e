"""Kafka side: decode and validate raw events, batch them, hand them to the windows; the
helpdesks' raw topics normalized (:mod:`streams.normalize`); histories sent to the input
topics (:mod:`streams.history`).

Importing this package does not import Faust; only :mod:`streams.app` (the Faust app and
its agents), the transport (:mod:`streams.transport`) and the modules it wires
(:mod:`streams.seek`, :mod:`streams.supervise`) do. It is configured by a plain
:class:`streams.config.StreamConfig` and imports ``kpi``, ``windows`` and ``connectors``.
"""
