"""``SUPPORT_QUEUES``: the helpdesks' queues named by their ids, one file for the webhooks and
for ``import`` alike, so a queue has one name whichever path saw it (docs/connectors.md).

    zendesk:   {group: {"360001": billing, "360002": technical}}
    chatwoot:  {inbox: {"4": Support}}
    freshdesk: {group: {"43000123": Billing}}
    intercom:  {team: {"5521": Tier 1}}

An id without a name is the queue ``<kind>-<id>`` (``group-360001``); a name given here
wins over one a payload carries.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from kpi.errors import ConfigError, describe_errors, read_yaml

Names = dict[str, str]


class _Groups(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: dict[str, str] = {}


class _Chatwoot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inbox: dict[str, str] = {}


class _Intercom(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: dict[str, str] = {}


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zendesk: _Groups = _Groups()
    freshdesk: _Groups = _Groups()
    chatwoot: _Chatwoot = _Chatwoot()
    intercom: _Intercom = _Intercom()


def parse_queues(text: str, source: str = "<queues>") -> dict[str, Names]:
    """vendor → ``"<kind>:<id>"`` → name; a mistake is one :class:`ConfigError` line."""
    doc = read_yaml(text, source) or {}
    if isinstance(doc, dict):  # YAML reads an id as a number: they are names here
        doc = {v: ({k: {str(i): str(n) for i, n in (ids or {}).items()}
                    for k, ids in kinds.items()} if isinstance(kinds, dict) else kinds)
               for v, kinds in doc.items()}
    try:
        f = _File.model_validate(doc)
    except ValidationError as exc:
        loc, msg = describe_errors(exc, doc)[0]
        raise ConfigError(f"{source}: {'.'.join(loc) or '(file)'}: {msg}") from None
    return {vendor: {f"{kind}:{i}": name
                     for kind, ids in getattr(f, vendor).model_dump().items()
                     for i, name in ids.items()}
            for vendor in ("zendesk", "freshdesk", "chatwoot", "intercom")}


def load_queues(path: Path) -> dict[str, Names]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the queues file {path}: {exc.strerror}") from None
    return parse_queues(text, str(path))
