"""docs/ray_data_llm.py, the documented path for self-hosted GPU models through `ray.data.llm` (issue 22):
checked without a GPU or vLLM. A `system` test: it imports ray, which the offline suite must not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from summarizer.batch import collect_inputs
from summarizer.model.local import free_port
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer
from tests.faults import kit

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.system
def test_the_ray_data_llm_example_fills_the_cache_the_batch_reads(tmp_path: Path):
    """Its syntax and imports, the vLLM configuration it builds, and its rows and cache: answers made up
    here in vLLM's place (the fake endpoint's) fill the cache, and the ordinary pipeline then analyses
    the article from it alone, its endpoint a closed port."""
    import importlib.util

    from bench.fake_openai import answer_for
    from summarizer.model.cache import ResponseCache

    spec = importlib.util.spec_from_file_location("ray_data_llm", ROOT / "docs" / "ray_data_llm.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)  # imports ray.data.llm (not vLLM: that is imported on the replicas)

    config = example.build_config("Qwen/Qwen2.5-7B-Instruct", replicas=2, batch_size=16)
    assert (config.model_source, config.concurrency, config.batch_size) == ("Qwen/Qwen2.5-7B-Instruct", 2, 16)
    assert config.engine_kwargs["enable_prefix_caching"] is True

    folder = tmp_path / "news"
    kit.write_articles(folder, 1)
    items = collect_inputs([str(folder)])
    settings = resolve_settings(
        base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", max_retries=0, env={}
    )
    summarizer = Summarizer(settings)
    rows, calls = example.planned_rows(items, summarizer)
    assert len(rows) == 3 and set(calls) == {row["key"] for row in rows}  # three tasks, one chunk
    tools = {"summary": "Summary", "stances": "StanceList", "events": "EventList"}
    answers = []
    for row in rows:
        prepared = example.preprocess(settings)(row)
        schema = prepared["sampling_params"]["structured_outputs"]["json"]
        assert schema == calls[row["key"]].response_model.model_json_schema()
        assert prepared["sampling_params"]["max_tokens"] == settings.max_tokens
        tool = tools[calls[row["key"]].prompt]
        body = {
            "messages": prepared["messages"],
            "tools": [{"function": {"name": tool, "parameters": schema}}],
        }
        made_up = answer_for(tool, "a00", body)
        vllm_row = {"key": row["key"], "generated_text": json.dumps(made_up), "num_input_tokens": 900}
        answers.append(example.postprocess(vllm_row | {"num_generated_tokens": 60}))
    with ResponseCache(tmp_path / "cache.sqlite3") as cache:
        assert example.fill_cache(answers, calls, cache) == 3
        with Summarizer(settings, cache=cache) as reader:
            analysis = reader.summarize(items[0].load())
    assert analysis.complete and all(run.cached for run in analysis.metadata.tasks.values())
    assert "answer-for-a00" in analysis.summary.model_dump_json()
