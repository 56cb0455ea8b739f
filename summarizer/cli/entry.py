"""The `summarizer` command's entry point: interrupts first (`interrupts`), then the heavy imports.

This module imports only the standard library and `interrupts`, so it loads in milliseconds.
"""

from __future__ import annotations

from typing import NoReturn

from .interrupts import _interrupted_exit, install, run


def main() -> NoReturn:
    install()
    try:
        from .commands import app
    except KeyboardInterrupt:
        _interrupted_exit()
    run(app)
