"""Showing an analysis: JSON and what every form shares (`common`), Markdown, the terminal, any format as a
string (`formats`), and the HTML page that `--format html` and the service share (`page`, with
`static/`)."""

_OLD = (
    "formats",
    "common",
    "markdown",
    "terminal",
)  # where the flat layout's `summarizer.render` names live now


def __getattr__(name: str) -> object:
    # The flat layout's module of this name answered these names: they still import from here.
    import importlib

    for module in _OLD:
        found = importlib.import_module(f"{__name__}.{module}")
        if hasattr(found, name):
            return getattr(found, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
