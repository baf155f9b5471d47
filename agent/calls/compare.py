"""When a call is the right call: the rule `bench calls` scores with.

The right function, and every argument the reference gives equal to it: strings compared
case-, punctuation- and spacing-insensitively, numbers by value, a single value equal to a
one-item list (references write `amenities="Wi-Fi"` for an array). The call may leave out
nothing the reference gives, and may add only arguments equal to their schema default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.calls.spans import normalise
from agent.jsontypes import JSONObject


def same_value(left: Any, right: Any) -> bool:
    if isinstance(left, list) or isinstance(right, list):
        a = left if isinstance(left, list) else [left]
        b = right if isinstance(right, list) else [right]
        return (
            len(a) == len(b)
            and all(any(same_value(x, y) for y in b) for x in a)
            and all(any(same_value(y, x) for x in a) for y in b)
        )
    if isinstance(left, bool) or isinstance(right, bool):
        return _truth(left) == _truth(right)
    if isinstance(left, int | float) and isinstance(right, int | float):
        return abs(float(left) - float(right)) < 1e-9
    if isinstance(left, int | float) or isinstance(right, int | float):
        return normalise(str(left)) == normalise(str(right))
    if isinstance(left, str) and isinstance(right, str):
        return normalise(left) == normalise(right)
    return bool(left == right)


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def arguments_match(
    predicted: Mapping[str, Any], reference: Mapping[str, Any], schema: JSONObject | None
) -> bool:
    properties = ((schema or {}).get("properties")) or {}
    for name, value in reference.items():
        if name not in predicted or not same_value(predicted[name], value):
            return False
    for name, value in predicted.items():
        if name in reference:
            continue
        default = (properties.get(name) or {}).get("default", _MISSING)
        if default is _MISSING or not same_value(value, default):
            return False
    return True


_MISSING = object()
