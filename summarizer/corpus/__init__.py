"""Many articles' results as one corpus (`build`) and its exports (`export`)."""

# Where the flat layout's `summarizer.corpus` names live now.
_OLD = ("build",)


def __getattr__(name: str) -> object:
    # The flat layout's module of this name answered these names: they still import from here.
    import importlib

    for module in _OLD:
        found = importlib.import_module(f"{__name__}.{module}")
        if hasattr(found, name):
            return getattr(found, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
