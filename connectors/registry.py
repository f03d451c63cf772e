"""The vendors by name (``SUPPORT_CONNECTORS``, ``/webhooks/<vendor>``, ``import VENDOR``)."""

from __future__ import annotations

from connectors import chatwoot, intercom, zendesk
from connectors.base import Vendor

VENDORS: dict[str, Vendor] = {v.name: v for v in (chatwoot.VENDOR, intercom.VENDOR, zendesk.VENDOR)}
