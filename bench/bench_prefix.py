"""What sharing one prompt prefix saves on the embedded server: `python bench/bench_prefix.py`.

The three tasks of an article are sent with the numbered article first and the task after it, so their
prompts share the system prompt and the article: llama.cpp keeps the evaluated prefix of the previous
request and evaluates only what differs (OpenAI's prompt caching does the same for prefixes of 1,024
tokens and more). This sends the seed's three first requests as the pipeline renders them, and the same
three with the task moved in front of the article (no shared prefix beyond the system prompt), each with
max_tokens=1 so the time is the prompt's evaluation. Interleaved rounds, medians.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import openai

from summarizer.core.article import read_article
from summarizer.model.local import LocalServer
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_576e96b86ee510dd.txt"
ROUNDS = 5


def task_first(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The same messages with the task paragraph before the fenced article."""
    system, user = messages
    head, sep, task = user["content"].rpartition("ARTICLE>>>\n")
    return [system, {"role": "user", "content": task.strip() + "\n\n" + head + sep.strip()}]


def timed(client: openai.OpenAI, messages: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    client.chat.completions.create(model="local", messages=messages, max_tokens=1, temperature=0)  # type: ignore[arg-type]
    return time.perf_counter() - started


def main() -> None:
    article = read_article(SEED)
    summarizer = Summarizer(resolve_settings(env={}), notice=lambda _: None)
    calls = summarizer.plan(article)
    layouts = {"article first (shipped)": [c.messages for c in calls]}
    layouts["task first"] = [task_first(c.messages) for c in calls]
    with LocalServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="not-needed")
        timed(client, [{"role": "user", "content": "warm up"}])
        seconds: dict[str, list[float]] = {name: [] for name in layouts}
        for _ in range(ROUNDS):
            for name, requests in layouts.items():
                timed(client, [{"role": "user", "content": "reset the cached prefix"}])
                seconds[name].append(sum(timed(client, m) for m in requests))
    print(f"seed article, 3 tasks, max_tokens=1, median of {ROUNDS} rounds ({sys.platform}, embedded model)")
    print("| prompt layout | prompt evaluation for 3 tasks |")
    print("| --- | --- |")
    for name, values in seconds.items():
        print(f"| {name} | {statistics.median(values):.2f} s |")
    shared, apart = (statistics.median(v) for v in seconds.values())
    print(f"\nsaved by the shared prefix: {1 - shared / apart:.0%}")


if __name__ == "__main__":
    main()
