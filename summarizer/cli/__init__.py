"""The command line: `app` and the shared options (`common`), one module per command group (`summarize`,
`prompts`, `batch`, `corpus`, `evaluate`, `serve`), the registry that imports them all (`commands`), and
the entry point (`entry`) with its interrupt handling (`interrupts`).

Light on purpose: the entry point imports this package before anything heavy.
"""


def __getattr__(name: str) -> object:
    # `from summarizer.cli import app` (every command registered) and `main`, as in the flat layout.
    if name == "app":
        from .commands import app

        return app
    if name == "main":
        from .entry import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
