"""One article through the model: prompts -> requests -> grounding -> merge -> assemble (`summarizer.py`
orchestrates; `connection.py` holds the client and the embedded server; `caching.py` the cache policy)."""

# Where the flat layout's `summarizer.pipeline` names live now.
_OLD = ("summarizer", "connection", "caching")


def __getattr__(name: str) -> object:
    # The flat layout's module of this name answered these names: they still import from here.
    import importlib

    for module in _OLD:
        found = importlib.import_module(f"{__name__}.{module}")
        if hasattr(found, name):
            return getattr(found, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
