"""The read side: what people and Prometheus see.

The Prometheus collectors (:mod:`serve.metrics`), the HTTP server with ``/metrics``, the
wall page and its live feed (:mod:`serve.http`, :mod:`serve.wall`, ``static/``), and the
tables that ``support-kpi query`` prints (:mod:`serve.query`). It reads the windows
(:mod:`windows.reader`) and the alert states (:mod:`alerts.store`); nothing below it
imports it, and it never writes.
"""
