"""Many articles' results as one corpus (`build`) and its exports (`export`)."""

from .._moved import old_names

# The flat layout's `summarizer.corpus` names still import from here, from the modules that hold them now.
__getattr__ = old_names(__name__, ("build",))
