"""One article through the model: prompts -> requests -> grounding -> merge -> assemble (`summarizer.py`
orchestrates; `connection.py` holds the client and the embedded server; `caching.py` the cache policy)."""

from .._moved import old_names

# The flat layout's `summarizer.pipeline` names still import from here, from the modules that hold them now.
__getattr__ = old_names(__name__, ("summarizer", "connection", "caching"))
