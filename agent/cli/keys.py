"""`toolroute keys create | list | revoke`: the REST API's keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import (
    JsonFlag,
    err,
    keys_app,
    out,
    print_json,
    settings,
)

if TYPE_CHECKING:
    pass


# --------------------------------------------------------------------------- keys


@keys_app.command("create")
def keys_create(
    admin: Annotated[
        bool,
        typer.Option("--admin", help="May write the catalog, change the router, read all tasks."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key: printed once; only its hash is kept (in DATA/api_keys.json, or
    the shared database). Running instances accept it within a second."""
    from agent.service.auth import digest, key_id, key_store, new_key

    key = new_key()
    scope = "admin" if admin else "user"
    key_store(settings()).add(digest(key), scope)
    if as_json:
        print_json({"key": key, "id": key_id(digest(key)), "scope": scope})
        return
    out.print(f"{scope} key (shown once; keep it secret): {key}", highlight=False, soft_wrap=True)
    if settings().api_key_list and not admin:
        err.print("note: TOOLROUTE_API_KEYS is set, so the service ignores stored user keys")


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """The stored keys' ids and scopes (keys from TOOLROUTE_* variables are not listed)."""
    from agent.service.auth import key_id, key_store

    stored = key_store(settings()).read()
    rows = [{"id": key_id(d), "scope": "user"} for d in stored.get("sha256", [])]
    rows += [{"id": key_id(d), "scope": "admin"} for d in stored.get("admin_sha256", [])]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        out.print(f"{row['id']}  {row['scope']}")


@keys_app.command("revoke")
def keys_revoke(
    key_id_: Annotated[str, typer.Argument(metavar="ID", help="From `keys list`.")],
) -> None:
    """Remove a stored key; running instances stop accepting it within a second."""
    from agent.service.auth import key_store

    if not key_store(settings()).remove(key_id_):
        err.print(f"[bold red]error:[/] no stored key with id {key_id_!r}", highlight=False)
        raise typer.Exit(2)
    out.print(f"revoked {key_id_}")
