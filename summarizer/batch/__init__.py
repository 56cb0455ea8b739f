"""Many articles: the inputs (`inputs`), the runner (`runner`), its output files (`output`), the signal
handling (`signals`), and the other ways to run a batch: OpenAI's Batch API (`openai_batch`), Ray
(`ray`), Parquet (`parquet`)."""

# Where the flat layout's `summarizer.batch` names live now.
_OLD = ("runner", "inputs", "output", "signals")


def __getattr__(name: str) -> object:
    # The flat layout's module of this name answered these names: they still import from here.
    import importlib

    for module in _OLD:
        found = importlib.import_module(f"{__name__}.{module}")
        if hasattr(found, name):
            return getattr(found, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
