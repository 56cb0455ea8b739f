"""Self-hosted GPU models through Ray Data LLM: vLLM replicas answer our first-round prompts, constrained
to our schemas, and the valid answers fill the response cache that `summarizer batch` reads first (as
`--openai-batch` does with OpenAI's Batch API).

    pip install 'summarizer[ray]' 'ray[llm]'       # ray[llm] brings vLLM; the replicas need GPUs
    export SUMMARIZER_CACHE_DIR=/shared/summarizer-cache   # storage every node sees
    python docs/ray_data_llm.py news/ --model Qwen/Qwen2.5-7B-Instruct --base-url http://vllm:8000/v1
    summarizer batch news/ -o out.jsonl --ray --model Qwen/Qwen2.5-7B-Instruct --base-url http://vllm:8000/v1

The batch then finds each first-round answer in the cache and runs our checks on it; only what they
reject (a re-ask) and the merge of a long article's chunks go to `--base-url`, a vLLM server of the same
model (`vllm serve MODEL`). Use the same `--model` and `--base-url` in both commands: they are part of
the cache key. Without a GPU cluster, serve the model with vLLM's OpenAI-compatible server alone and run
`summarizer batch --ray --base-url` against it: the same results, every call through the server.

tests/test_batch_ray.py checks this file's syntax and imports, the configuration it builds, and that the
cache it fills is the one the ordinary run reads (with answers made up in place of vLLM's: no GPU).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from typing import Any

import ray
from ray.data.llm import build_processor, vLLMEngineProcessorConfig

from summarizer.batch import BatchInput, collect_inputs
from summarizer.model.cache import CachedResponse, ResponseCache
from summarizer.model.settings import Settings, resolve_settings
from summarizer.pipeline import PlannedCall, Summarizer


def build_config(model: str, *, replicas: int = 1, batch_size: int = 32) -> vLLMEngineProcessorConfig:
    """vLLM replicas (one GPU each) of `model`; prefix caching shares an article between its tasks."""
    return vLLMEngineProcessorConfig(
        model_source=model,
        engine_kwargs={"enable_prefix_caching": True, "max_model_len": 16384},
        concurrency=replicas,
        batch_size=batch_size,
    )


def planned_rows(
    items: Iterable[BatchInput], summarizer: Summarizer
) -> tuple[list[dict], dict[str, PlannedCall]]:
    """One row per first-round call of every article (each chunk, each task), and the calls by key."""
    rows, calls = [], {}
    for item in items:
        for call in summarizer.plan(item.load()):
            calls[call.cache_key] = call
            schema = json.dumps(call.response_model.model_json_schema())
            rows.append({"key": call.cache_key, "messages": call.messages, "schema": schema})
    return rows, calls


def preprocess(settings: Settings) -> Any:
    """Each row's messages and sampling: our temperature and token limit, the output held to the schema."""

    def prepare(row: dict[str, Any]) -> dict[str, Any]:
        sampling = {
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "structured_outputs": {"json": json.loads(row["schema"])},
        }
        return {"key": row["key"], "messages": row["messages"], "sampling_params": sampling}

    return prepare


def postprocess(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": row["key"],
        "text": row["generated_text"],
        "prompt_tokens": int(row.get("num_input_tokens") or 0),
        "completion_tokens": int(row.get("num_generated_tokens") or 0),
    }


def fill_cache(answers: Iterable[dict[str, Any]], calls: dict[str, PlannedCall], cache: ResponseCache) -> int:
    """Keep the answers our schemas and checks accept; the rest the batch asks again. Returns how many."""
    kept = 0
    for answer in answers:
        call = calls[answer["key"]]
        try:
            output = call.response_model.model_validate_json(answer["text"])
        except ValueError:
            continue
        if call.review(output):  # what the ordinary path would re-ask about
            continue
        tokens = (answer["prompt_tokens"], answer["completion_tokens"])
        cache.put(call.cache_key, CachedResponse(output.model_dump_json(), 1, *tokens, time.time()))
        kept += 1
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--model", required=True)
    parser.add_argument("--base-url", required=True, help="the vLLM server the batch will use for re-asks")
    parser.add_argument("--replicas", type=int, default=1)
    args = parser.parse_args()
    settings = resolve_settings(model=args.model, base_url=args.base_url)
    summarizer = Summarizer(settings)
    rows, calls = planned_rows(collect_inputs(args.inputs), summarizer)
    processor = build_processor(
        build_config(args.model, replicas=args.replicas),
        preprocess=preprocess(settings),
        postprocess=postprocess,
    )
    with ResponseCache() as cache:
        kept = fill_cache(processor(ray.data.from_items(rows)).iter_rows(), calls, cache)
    print(f"{kept} of {len(rows)} answers in the cache; now run `summarizer batch` with the same settings")


if __name__ == "__main__":
    main()
