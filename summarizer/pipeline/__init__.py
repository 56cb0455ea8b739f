"""One article through the model: prompts -> requests -> grounding -> merge -> assemble (`summarizer.py`
orchestrates; `connection.py` holds the client and the embedded server; `caching.py` the cache policy)."""

_OLD = "summarizer"


def __getattr__(name: str) -> object:
    # The flat layout's module of this name answered these names: they still import from here.
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_OLD}"), name)
