"""A letter's inputs as JSON, kept with the letter so that it can be rendered again exactly as it was.

Dates, times and amounts keep their types through the round trip ({"$date": "2026-11-02"}, {"$datetime": ...},
{"$decimal": "80.00"}); everything else in a context is already JSON (str, int, bool, None, lists, dicts).
"""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"a letter context may not hold {type(value).__name__} values ({value!r})")


_DECODERS = {"$datetime": datetime.fromisoformat, "$date": date.fromisoformat, "$decimal": Decimal}


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            (key, text), = value.items()
            if key in _DECODERS:
                return _DECODERS[key](text)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def dumps(kind: str, context: dict, templates_version: str) -> str:
    """The snapshot of one letter: its kind, the template set it was rendered with and its full context."""
    return json.dumps({"kind": kind, "templates": templates_version, "context": _encode(context)},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> tuple[str, str, dict]:
    """(kind, template set version, context) from a snapshot."""
    data = json.loads(text)
    return data["kind"], data["templates"], _decode(data["context"])
