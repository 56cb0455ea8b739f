"""Drives the client that openapi-python-client generated from the service's /openapi.json, as a user of
that client would (tests/test_service_client.py). It runs with the generator's own Python (httpx, attrs,
python-dateutil: the generated client's dependencies), not the project's, and imports nothing of
summarizer. It prints what each call got, as JSON; the test states what that must be.

    python openapi_client_driver.py PACKAGE_PARENT URL KEY ARTICLE_FILE
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def seen(response: Any) -> dict[str, Any]:
    """A call's status and the generated type its body was parsed into (None: not parsed)."""
    parsed = response.parsed
    out: dict[str, Any] = {"status": int(response.status_code), "parsed": type(parsed).__name__}
    if type(parsed).__name__ == "Problem":
        out["type"], out["problem_status"] = parsed.type_, parsed.status
    return out


def main(parent: str, url: str, key: str, article: str) -> dict[str, Any]:
    sys.path.insert(0, parent)
    from summarizer_client import AuthenticatedClient, Client
    from summarizer_client.api.analyses import create_analysis
    from summarizer_client.api.batches import cancel_batch, create_batch, get_batch, get_batch_results
    from summarizer_client.models import AnalysisRequest, BatchJobState, BatchLine, BatchResult

    out: dict[str, Any] = {}
    client = AuthenticatedClient(base_url=url, token=key, timeout=60)
    anonymous = Client(base_url=url, timeout=60)

    # An analysis, with the fields beside the article that a client sends.
    r = create_analysis.sync_detailed(
        client=client, body=AnalysisRequest(text=article, title="T", language="en", tasks="summary")
    )
    out["create_analysis"] = {
        **seen(r),
        "title": getattr(r.parsed, "article", None) and r.parsed.article.title,
    }

    # A batch: submitted, followed to its end, its results read line by line into the generated models.
    lines = [BatchLine(text=f"{n}. {article}", id=f"article-{n}") for n in range(3)]
    r = create_batch.sync_detailed(client=client, body=lines, tasks="summary,events")
    out["create_batch"] = seen(r)
    job = r.parsed
    deadline = time.monotonic() + 60
    while job.state in (BatchJobState.QUEUED, BatchJobState.RUNNING) and time.monotonic() < deadline:
        time.sleep(0.2)
        r = get_batch.sync_detailed(job.id, client=client)
        job = r.parsed
    out["get_batch"] = {**seen(r), "state": str(job.state), "done": job.done, "total": job.total}
    r = get_batch_results.sync_detailed(job.id, client=client)
    results = [BatchResult.from_dict(json.loads(line)) for line in r.content.decode().splitlines()]
    out["get_batch_results"] = {
        "status": int(r.status_code),
        "ids": sorted(result.id for result in results),
        "summaries": sum(result.analysis.summary is not None for result in results),
    }
    r = get_batch_results.sync_detailed(job.id, client=client, after=2)
    out["get_batch_results_after_2"] = len(r.content.decode().splitlines())
    out["cancel_batch_done"] = seen(cancel_batch.sync_detailed(job.id, client=client))

    # The problems a client must be able to read: 401, 413, 422 (and 404) as the generated Problem.
    out["401_get_batch"] = seen(get_batch.sync_detailed(job.id, client=anonymous))
    out["401_create_batch"] = seen(create_batch.sync_detailed(client=anonymous, body=lines))
    out["401_create_analysis"] = seen(
        create_analysis.sync_detailed(client=anonymous, body=AnalysisRequest(text="x"))
    )
    big = [BatchLine(text=article, id=str(n)) for n in range(200)]
    out["413_create_batch"] = seen(create_batch.sync_detailed(client=client, body=big))
    out["413_create_analysis"] = seen(
        create_analysis.sync_detailed(client=client, body=AnalysisRequest(text=article * 40))
    )
    out["422_create_batch"] = seen(
        create_batch.sync_detailed(client=client, body=lines, tasks="summary,poems")
    )
    out["422_create_analysis"] = seen(
        create_analysis.sync_detailed(client=client, body=AnalysisRequest(text=article, tasks="poems"))
    )
    out["404_get_batch"] = seen(get_batch.sync_detailed("no-such-job", client=client))
    return out


if __name__ == "__main__":
    parent, url, key, article_file = sys.argv[1:5]
    print(json.dumps(main(parent, url, key, Path(article_file).read_text())))
