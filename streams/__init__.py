"""Kafka side: decode and validate raw events, batch them, hand them to the windows.

Importing this package does not import Faust; only :mod:`streams.app` (the Faust app and
its agents) and the modules it wires (:mod:`streams.seek`, :mod:`streams.supervise`) do.
It is configured by a plain :class:`streams.config.StreamConfig` and imports only
``windows``.
"""
