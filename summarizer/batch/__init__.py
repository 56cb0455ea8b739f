"""Many articles: the inputs (`inputs`), the runner (`runner`), its output files (`output`), the signal
handling (`signals`), and the other ways to run a batch: OpenAI's Batch API (`openai_batch`), Ray
(`ray`), Parquet (`parquet`)."""

from .._moved import old_names

# The flat layout's `summarizer.batch` names still import from here, from the modules that hold them now.
__getattr__ = old_names(__name__, ("runner", "inputs", "output", "signals"))
