"""The `toolroute` command line: one module per command group (`catalog`: search and
apis, `index`, `ask`, `routing`: the router, `sandbox`, `bench`, `keys`, `serve`,
`evaluate`), sharing `common`, with `app.main` as the entry point and the one error edge.

Heavy libraries load inside the commands that need them, so `toolroute --help` stays fast.
"""

from agent.cli.app import main

__all__ = ["main"]
