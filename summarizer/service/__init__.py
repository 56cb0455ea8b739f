"""The HTTP service: the summariser behind FastAPI, with keys, limits, metrics, batch jobs and a page that
shows the evidence. Needs the `serve` extra (`pip install -e '.[serve]'`).

- `app.py`: the routes over one shared `Summarizer`; `core.py` what they share (`Service`, per-key views).
- `engine.py`: the summarizer's work on an event loop and thread of its own, off the server's loop.
- `offload.py`: large request bodies parsed in worker processes; the garbage collector kept off start-up.
- `problems.py`: errors as RFC 9457 problem+json; `openapi.py`: the OpenAPI document as the service behaves.
- `guard.py`: API keys, body size, per-key rate and concurrency limits; `budget.py`: token bounds, pruning.
- `middleware.py`: request ids, the access log, a problem for any 500; Host, Origin, key and media checks.
- `batches.py` the batch routes; `jobs.py` the runner (fair between keys); `store.py` the job table.
- `server.py`: uvicorn with the read timeouts it lacks.
- The evidence page (`GET /`) is `summarizer.render.page`, shared with `summarize --format html`.
"""

from ..render.page import render_html

__all__ = ["render_html"]
