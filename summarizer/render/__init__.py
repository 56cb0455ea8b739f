"""Showing an analysis: JSON and what every form shares (`common`), Markdown, the terminal, any format as a
string (`formats`), and the HTML page that `--format html` and the service share (`page`, with
`static/`)."""

from .._moved import old_names

# The flat layout's `summarizer.render` names still import from here, from the modules that hold them now.
__getattr__ = old_names(__name__, ("formats", "common", "markdown", "terminal"))
