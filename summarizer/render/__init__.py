"""Showing an analysis: the terminal, JSON and Markdown (`terminal`, `markdown`), and the HTML page that
`--format html` and the service share (`page`, with `static/`)."""

_OLD = "terminal"


def __getattr__(name: str) -> object:
    # The flat layout's module of this name answered these names: they still import from here.
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_OLD}"), name)
