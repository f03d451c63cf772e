"""Intercom's API history (conversations with their parts) → schema v1, for
``support-kpi import intercom``.

A conversation as ``GET /conversations/{id}`` returns it
(https://developers.intercom.com/docs/references/2.11/rest-api/api.intercom.io/
conversations/retrieveconversation) holds the same model a webhook's ``data.item`` does:
its opening ``source``, every ``conversation_parts`` entry and the
``conversation_rating``. So it maps with the webhooks' rules and keeps their ids: history
imported up to the switch-on and live webhooks do not double count. A list page
(``{"type": "conversation.list", "conversations": [...]}``) has no parts: retrieve each
conversation for its replies. A conversation's events carry its contact as the webhooks'
do (``customer_id``); a part exported on its own names no contact, so its event has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from connectors import intercom
from connectors.base import Context, Doc, Imported, items, map_whole, need
from connectors.errors import ConnectorError


def _conversation(item: Doc, ctx: Context) -> list[Doc]:
    if item.get("type") == "conversation_part" and item.get("conversation_id") is not None:
        # a part on its own (connector tools export the parts one per record)
        key = ctx.key(item["conversation_id"])
        return intercom.parts({"conversation_parts": {"conversation_parts": [item]}}, key)
    if item.get("type", "conversation") != "conversation":
        raise ConnectorError("unknown_payload", f"not an Intercom conversation or "
                                                f"conversation part: type {item.get('type')!r}"
                                                " (tickets are not mapped)")
    return intercom.conversation(item, ctx.key(need(item, "id", "conversation")), ctx)


def normalize_export(docs: Iterable[Any], ctx: Context) -> Imported:
    """Every conversation of the files (conversation ids as on the webhooks); teams
    (``GET /teams``) among them name the queues."""
    records = list(items(docs, "conversations", "teams"))
    names = {f"team:{t['id']}": str(t["name"]) for t in records
             if t.get("type") == "team" and t.get("id") is not None and t.get("name")}
    ctx = replace(ctx, queues={**names, **ctx.queues})

    def whole(doc: Doc, one: Imported) -> None:
        one.events += _conversation(doc, ctx)
        if doc.get("type", "conversation") == "conversation" and \
                not (doc.get("conversation_parts") or {}).get("conversation_parts"):
            one.skip("conversation without parts (a list page: retrieve it)")

    out = map_whole((r for r in records if r.get("type") != "team"), whole)
    if names:
        out.skip(f"team records (named {len(names)} queues)")
    return out
