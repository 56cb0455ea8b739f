"""Batch throughput and overhead against the loopback benchmark fixture (bench/fake_openai.py).

    python bench/bench_batch.py                  # 200 articles, concurrency 32, 200 ms per call

Side by side, in one run, against the same fixture (in a process of its own):
1. `run_batch` over N articles at concurrency C, against the ideal: the delay times the number of
   sequential rounds (an article's three tasks run concurrently, so one round per article slot);
2. a plain loop of instructor calls (the same three calls per article, same concurrency, nothing else):
   our per-article overhead is the difference;
3. the same batch again from a warm response cache: model calls made, and time per article;
4. our checks alone, outside any batch (segmenting, the article's indexes, citations, names, dates and
   support scores of the three answers): the part of our overhead that is work the plain loop never does.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import instructor
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fake_openai import answer_for, serve_process
from summarizer.batch import BatchInput, run_batch
from summarizer.core.article import article_from_text
from summarizer.core.schemas import TASK_MODELS, TASKS
from summarizer.core.segment import split_sentences
from summarizer.grounding.ground import Grounding
from summarizer.model.cache import ResponseCache
from summarizer.model.client import make_client
from summarizer.model.local import free_port
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer
from summarizer.pipeline.prompts import PromptSet

ARTICLE = (Path(__file__).resolve().parent / "article.txt").read_text()


def inputs(n: int) -> list[BatchInput]:
    texts = [f"Report {i}.\n{ARTICLE}" for i in range(n)]
    return [
        BatchInput(id=str(i), source=str(i), load=lambda t=t: article_from_text(t))
        for i, t in enumerate(texts)
    ]


async def ours(
    url: str, n: int, concurrency: int, out: Path, cache: ResponseCache | None
) -> tuple[float, int]:
    settings = resolve_settings(base_url=url, model="bench-model", api_key="bench", max_retries=0, env={})
    client = make_client(settings, http_retries=0)
    # Requests in flight: every task of every article in flight, as the plain loop below allows.
    async with Summarizer(settings, client=client, cache=cache, max_requests=concurrency * len(TASKS)) as s:
        started = time.perf_counter()
        report = await run_batch(
            inputs(n),
            s,
            results=out / "results.jsonl",
            failures=out / "failures.jsonl",
            concurrency=concurrency,
        )
        elapsed = time.perf_counter() - started
    assert report.done == n and report.failed == 0, report
    return elapsed, report.model_calls


async def plain_loop(url: str, n: int, concurrency: int) -> float:
    """The baseline: the same three instructor calls per article, the same messages, nothing else."""
    raw = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)
    client = instructor.from_openai(raw)
    prompts = PromptSet.load()
    gate = asyncio.Semaphore(concurrency)

    async def article(text: str) -> None:
        async with gate:
            await asyncio.gather(
                *(
                    client.create(
                        model="bench-model",
                        messages=prompts.render(t, text=text),  # type: ignore[arg-type]
                        response_model=TASK_MODELS[t],
                        max_retries=0,
                        temperature=0.0,
                        max_tokens=1500,
                    )
                    for t in TASKS
                )
            )

    started = time.perf_counter()
    await asyncio.gather(*(article(f"Report {i}.\n{ARTICLE}") for i in range(n)))
    elapsed = time.perf_counter() - started
    await raw.close()
    return elapsed


def checks_ms(n: int) -> float:
    """Milliseconds per article of what grounding does with the fixture's three answers, in one thread."""
    answers = {"summary": "Summary", "stances": "StanceList", "events": "EventList"}
    started = time.perf_counter()
    for i in range(n):
        article = article_from_text(f"Report {i}.\n{ARTICLE}")
        grounding = Grounding(article, split_sentences(article.text))
        numbers = [s.number for s in grounding.sentences]
        for task, tool in answers.items():
            output = grounding.request_model(task, numbers).model_validate(answer_for(tool, None))
            grounding.review(output)
            getattr(grounding, task)(output)  # Grounding.summary, .stances, .events
    return (time.perf_counter() - started) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    n, c, delay = args.articles, args.concurrency, args.delay
    ideal = delay * math.ceil(n / c)
    with serve_process(free_port(), delay) as url, tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        baseline = asyncio.run(plain_loop(url, n, c))
        cache = ResponseCache(tmp_path / "cache.sqlite3")
        batch, calls = asyncio.run(ours(url, n, c, tmp_path / "cold", cache))
        cached, cached_calls = asyncio.run(ours(url, n, c, tmp_path / "warm", cache))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python bench/bench_batch.py --articles {n} --concurrency {c} --delay {delay}")
    print(f"ideal ({delay * 1000:.0f} ms x {math.ceil(n / c)} rounds): {ideal:.2f} s")
    print(f"plain instructor loop:  {baseline:.2f} s  ({baseline / ideal:.2f} x ideal)")
    print(f"summarizer batch:       {batch:.2f} s  ({batch / ideal:.2f} x ideal), {calls} model calls")
    overhead = (batch - baseline) / n * 1000
    print(
        f"our overhead vs plain loop: {(batch / baseline - 1) * 100:+.1f} % ({overhead:+.2f} ms per article)"
    )
    per_article = cached / n * 1000
    print(f"cached re-run:          {cached:.2f} s, {cached_calls} model calls, {per_article:.2f} ms/article")
    checks = checks_ms(n)
    print(f"our checks alone:       {checks:.2f} ms/article (segmenting, indexes, every check)")


if __name__ == "__main__":
    main()
