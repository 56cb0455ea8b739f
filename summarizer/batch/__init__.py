"""Many articles: the inputs (`inputs`), the runner (`runner`), its output files (`output`), the signal
handling (`signals`), and the other ways to run a batch: OpenAI's Batch API (`openai_batch`), Ray
(`ray`), Parquet (`parquet`)."""

_OLD = "runner"  # which imports the inputs, the output and run_to_end too


def __getattr__(name: str) -> object:
    # The flat layout's module of this name answered these names: they still import from here.
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_OLD}"), name)
