"""The HTTP service: the summariser behind FastAPI, with keys, limits, metrics, batch jobs and a page that
shows the evidence. Needs the `serve` extra (`pip install -e '.[serve]'`).

- `app.py`: the routes over one shared `Summarizer`.
- `problems.py`: errors as RFC 9457 problem+json.
- `guard.py`: API keys, body size, per-key rate and concurrency limits, the access log.
- `jobs.py`: batch jobs in SQLite, run by the batch code.
- `page.py`: the evidence page (`GET /`) and `render_html` for `summarize --format html`.
"""

from .page import render_html

__all__ = ["render_html"]
