"""Many articles' results as one corpus (`build`) and its exports (`export`)."""

_OLD = "build"


def __getattr__(name: str) -> object:
    # The flat layout's module of this name answered these names: they still import from here.
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_OLD}"), name)
