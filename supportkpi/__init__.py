"""The composition root: settings, the command line and the worker's wiring.

It reads the environment into one typed :class:`supportkpi.settings.Settings`, builds the
Faust app (``streams``), the alert runner (``alerts``) and the HTTP read side (``serve``),
and hands each of them plain values. Nothing imports it.
"""
