"""Whether a function's `parameters` is a JSON schema toolroute can use.

Clients send tool schemas and catalogs import them; a schema that is not one (a `type` of
5, `properties` that is a string) would otherwise fail much later, inside the grammar or
the filler, as an internal error. It is refused where it comes in, with where and why.
"""

from __future__ import annotations

from typing import Any


def check_json_schema(schema: dict[str, Any]) -> None:
    """Raise `ValueError` unless `schema` is a JSON schema (draft 2020-12) for an object."""
    from jsonschema import Draft202012Validator  # here: 30 ms that only imports need
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(top)"
        raise ValueError(f"not a valid JSON schema at {where}: {exc.message}") from None
    except RecursionError:
        raise ValueError("not a usable JSON schema: nested too deeply") from None
    kind = schema.get("type", "object")
    if kind != "object":
        raise ValueError(f"a function's parameters must be an object schema, not {kind!r}")
