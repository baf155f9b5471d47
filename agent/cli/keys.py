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
    """Create an API key: printed once; only its hash is kept (in DATA/api_keys.json)."""
    from agent.service.auth import add_to_keys_file, digest, key_id, new_key

    key = new_key()
    add_to_keys_file(settings().data_dir, digest(key), "admin" if admin else "user")
    scope = "admin" if admin else "user"
    if as_json:
        print_json({"key": key, "id": key_id(digest(key)), "scope": scope})
        return
    out.print(f"{scope} key (shown once; keep it secret): {key}", highlight=False, soft_wrap=True)
    if settings().api_key_list and not admin:
        err.print("note: TOOLROUTE_API_KEYS is set, so the service ignores stored user keys")


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """The stored keys' ids and scopes (keys from TOOLROUTE_* variables are not listed)."""
    from agent.service.auth import key_id, read_keys_file

    stored = read_keys_file(settings().data_dir)
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
    """Remove a stored key; a running service stops accepting it at its next start."""
    from agent.service.auth import key_id, read_keys_file, write_keys_file

    stored = read_keys_file(settings().data_dir)
    kept = {name: [d for d in digests if key_id(d) != key_id_] for name, digests in stored.items()}
    if kept == stored:
        err.print(f"[bold red]error:[/] no stored key with id {key_id_!r}", highlight=False)
        raise typer.Exit(2)
    write_keys_file(settings().data_dir, kept)
    out.print(f"revoked {key_id_}")
