"""Intercom's API history (conversations with their parts) → schema v1, for
``support-kpi import intercom``.

A conversation as ``GET /conversations/{id}`` returns it
(https://developers.intercom.com/docs/references/2.11/rest-api/api.intercom.io/
conversations/retrieveconversation) holds the same model a webhook's ``data.item`` does:
its opening ``source``, every ``conversation_parts`` entry and the
``conversation_rating``. So it maps with the webhooks' rules and keeps their ids: history
imported up to the switch-on and live webhooks do not double count. A list page
(``{"type": "conversation.list", "conversations": [...]}``) has no parts: retrieve each
conversation for its replies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors import intercom
from connectors.base import Doc, Imported, items, map_whole, need
from connectors.errors import ConnectorError


def _conversation(item: Doc, account: str) -> list[Doc]:
    if item.get("type", "conversation") != "conversation":
        raise ConnectorError("unknown_payload", f"not an Intercom conversation: type "
                                                f"{item.get('type')!r}")
    key = f"{account}:{need(item, 'id', 'conversation')}"
    return intercom.opened(item, key) + intercom.parts(item, key) + \
        intercom.rating(item, key)


def normalize_export(docs: Iterable[Any], account: str = "0") -> Imported:
    """Every conversation of the files; ``account`` is the Intercom app id (the webhooks'
    ``app_id``), so imported and live conversations share ids."""
    def whole(doc: Doc, one: Imported) -> None:
        one.events += _conversation(doc, account)
        if not (doc.get("conversation_parts") or {}).get("conversation_parts"):
            one.skip("conversation without parts (a list page: retrieve it)")

    return map_whole(items(docs, "conversations"), whole)
