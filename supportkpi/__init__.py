"""Glue for the support KPI monitor: settings, CLI, local services, exporter, simulator."""
