"""The vendors by name (``SUPPORT_CONNECTORS``, ``/webhooks/<vendor>``, ``import VENDOR``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from connectors import (
    chatwoot,
    chatwoot_export,
    freshdesk,
    freshdesk_export,
    intercom,
    intercom_export,
    zendesk,
    zendesk_export,
)
from connectors.base import Context, Imported, Vendor

VENDORS: dict[str, Vendor] = {v.name: v for v in (chatwoot.VENDOR, freshdesk.VENDOR,
                                                 intercom.VENDOR, zendesk.VENDOR)}

# vendor → its history mapper: (export documents, context) → the events, sorted or not
IMPORTS: dict[str, Callable[[Iterable[Any], Context], Imported]] = {
    "chatwoot": chatwoot_export.normalize_export,
    "freshdesk": freshdesk_export.normalize_export,
    "intercom": intercom_export.normalize_export,
    "zendesk": zendesk_export.normalize_export,
}
