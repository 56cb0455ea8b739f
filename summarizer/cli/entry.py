"""The `summarizer` command's entry point: interrupts first (`interrupts`), then the heavy imports.

This module imports only the standard library and `interrupts`, so it loads in milliseconds. For
`summarize` on the embedded model it also starts the engine before the imports (`engine_first`).
"""

from __future__ import annotations

import sys
from typing import NoReturn

from ..model import local
from .interrupts import _interrupted_exit, install, run


def main() -> NoReturn:
    install()
    try:
        if engine_first(sys.argv[1:]):
            local.start_early()
        from .commands import app
    except KeyboardInterrupt:
        _interrupted_exit()
    run(app)


def engine_first(argv: list[str]) -> bool:
    """Whether this is `summarize` on the embedded model, by the same settings the command resolves (its
    endpoint flags as given, the environment). Then the engine can load while the command's imports run
    (about a second). A wrong guess costs an engine started and killed; a missed one, that second."""
    if not argv or argv[0] != "summarize" or "--help" in argv:
        return False
    from ..model.settings import resolve_settings  # pydantic, not instructor: 0.1 s

    try:
        settings = resolve_settings(
            base_url=_flag(argv, "--base-url"),
            api_key_env=_flag(argv, "--api-key-env"),
            mode=_flag(argv, "--mode"),
            rails=_flag(argv, "--rails"),
        )
    except Exception:  # the command itself will report it
        return False
    return settings.endpoint == "embedded"


def _flag(argv: list[str], name: str) -> str | None:
    """A flag's value, as `--name value` or `--name=value` (the last one wins, as in click)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.partition("=")[2]
    return value
