"""Kafka side: decode and validate raw events, batch them, hand them to the windows.

Importing this package does not import Faust; only :mod:`streams.app` and
:mod:`streams.agents` do.
"""
