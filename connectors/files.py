"""A helpdesk's export files as JSON documents, for ``import``: a ``.json`` file is one
document (an API page, an object or an array), a ``.jsonl`` file (or ``.jsonl.gz``) one
per line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from connectors.errors import ConnectorError


class ExportFileError(ConnectorError):
    """An export file that is not JSON: one line naming the file."""

    def __init__(self, detail: str) -> None:
        super().__init__("not_json", detail)
        self.args = (detail,)


def read_documents(files: Sequence[Path]) -> Iterator[dict[str, Any]]:
    for path in files:
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            text = fh.read()
        try:
            if path.name.endswith((".jsonl", ".jsonl.gz")):
                yield from (json.loads(ln) for ln in text.splitlines() if ln.strip())
            else:
                yield json.loads(text)
        except ValueError as exc:
            raise ExportFileError(f"{path}: not JSON: {exc}") from None
