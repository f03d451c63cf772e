"""Helpdesk payloads in, schema v1 events out: one pure mapping per vendor, its signature
check, and the registry the webhook intake, the normalizer agents and ``import`` share.

No Kafka, no HTTP, no Redis here: a vendor mapping is a function of one payload, so it is
tested on the vendors' own example payloads (``tests/fixtures/connectors``).
"""
