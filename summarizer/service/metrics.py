"""Prometheus metrics, in a registry of the app's own (two apps in one process, as in the tests, do not
share counts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..core.schemas import ArticleAnalysis
from ..model.pricing import Price, cost

# Latency buckets for a service whose answers take from milliseconds (cache hits) to minutes (small
# local models).
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "summarizer_http_requests", "HTTP requests by route and status.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "summarizer_http_request_seconds",
            "HTTP request latency.",
            ["route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.model_calls = Counter("summarizer_model_calls", "Model calls, re-asks included.", registry=r)
        self.cache_hits = Counter(
            "summarizer_cache_hits", "Task answers served by the response cache.", registry=r
        )
        self.tokens = Counter("summarizer_tokens", "Tokens used, by kind.", ["kind"], registry=r)
        self.cost = Counter(
            "summarizer_cost_usd", "Cost in USD of the models with a known price.", registry=r
        )
        self.articles = Counter(
            "summarizer_articles", "Articles analysed, by outcome.", ["outcome"], registry=r
        )
        self.queue = Gauge("summarizer_batch_queue_depth", "Batch articles waiting or running.", registry=r)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_analysis(self, analysis: ArticleAnalysis, prices: dict[str, Price]) -> None:
        meta = analysis.metadata
        for run in meta.tasks.values():
            if run.cached:
                self.cache_hits.inc()
            else:
                self.model_calls.inc(run.attempts)
        self.tokens.labels("prompt").inc(meta.usage.prompt_tokens)
        self.tokens.labels("completion").inc(meta.usage.completion_tokens)
        self.cost.inc(cost(meta.model, meta.usage.prompt_tokens, meta.usage.completion_tokens, prices) or 0.0)
        self.articles.labels("ok").inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)
