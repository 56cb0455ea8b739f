"""The response cache: keys, round trip, clearing, concurrent writers, and a corrupt file."""

from __future__ import annotations

import inspect
import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from summarizer.model.cache import CachedResponse, ResponseCache, cache_dir, cache_key

KEY_ARGS: dict[str, Any] = {
    "endpoint": "openai",
    "base_url": None,
    "model": "gpt-4o-mini",
    "messages": [{"role": "system", "content": "Summarise."}, {"role": "user", "content": "Text."}],
    "schema": {"title": "Summary", "type": "object", "properties": {"headline": {"type": "string"}}},
    "mode": "tools",
    "temperature": 0.0,
    "max_tokens": 1500,
    "max_retries": 2,
}
# One changed value per key component; the parametrisation below checks that it covers all of them.
CHANGED: dict[str, Any] = {
    "endpoint": "compatible",
    "base_url": "http://localhost:11434/v1",
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "Summarise."}, {"role": "user", "content": "Text!"}],
    "schema": {"title": "Summary", "type": "object", "properties": {"headline": {"type": "integer"}}},
    "mode": "json_schema",
    "temperature": 0.7,
    "max_tokens": 1000,
    "max_retries": 3,
}


def value(n: int = 0) -> CachedResponse:
    return CachedResponse(
        output_json=f'{{"headline": "h{n}"}}', attempts=2, prompt_tokens=100 + n, completion_tokens=7,
        created=1_700_000_000.5,
    )  # fmt: skip


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    with ResponseCache(tmp_path / "c.sqlite3") as c:
        yield c


def test_key_is_a_stable_sha256() -> None:
    key = cache_key(**KEY_ARGS)
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache_key(**KEY_ARGS) == key
    # Dict key order and int-vs-float temperature do not matter.
    reordered = {**KEY_ARGS, "schema": dict(reversed(list(KEY_ARGS["schema"].items()))), "temperature": 0}
    assert cache_key(**reordered) == key


def test_every_component_is_covered() -> None:
    assert set(inspect.signature(cache_key).parameters) == set(KEY_ARGS) == set(CHANGED)


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_each_component_changes_the_key(name: str) -> None:
    assert cache_key(**{**KEY_ARGS, name: CHANGED[name]}) != cache_key(**KEY_ARGS)


def test_the_api_key_is_not_an_input() -> None:
    assert "api_key" not in inspect.signature(cache_key).parameters
    with pytest.raises(TypeError):
        cache_key(**KEY_ARGS, api_key="sk-secret")  # type: ignore[call-arg]


def test_round_trip(cache: ResponseCache) -> None:
    key = cache_key(**KEY_ARGS)
    assert cache.get(key) is None
    cache.put(key, value(1))
    assert cache.get(key) == value(1)
    cache.put(key, value(2))  # replaces
    assert cache.get(key) == value(2)
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (1, 2, 1)


def test_persists_across_instances(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite3") as first:
        first.put("k", value())
    with ResponseCache(tmp_path / "c.sqlite3") as second:
        assert second.get("k") == value()


def test_clear_and_stats(cache: ResponseCache, tmp_path: Path) -> None:
    for n in range(5):
        cache.put(f"k{n}", CachedResponse("x" * 100_000, 1, 1, 1, 0.0))
    stats = cache.stats()
    assert stats.path == tmp_path / "c.sqlite3"
    assert stats.entries == 5 and stats.bytes > 0
    assert cache.clear() == 5
    assert cache.stats().entries == 0
    # The space is given back: 500 kB of entries were written; what is left is a few empty pages.
    assert cache.stats().bytes < stats.bytes / 10
    assert cache.get("k0") is None
    assert cache.clear() == 0


def test_threads_share_one_cache(cache: ResponseCache) -> None:
    def work(t: int) -> None:
        for n in range(50):
            cache.put(f"t{t}-{n}", value(n))
            assert cache.get(f"t{t}-{n}") == value(n)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.stats().entries == 400


def _writer(path: str, worker: int, count: int) -> None:
    """Runs in a spawned process: a fresh interpreter, as a parallel batch run would be."""
    with ResponseCache(Path(path)) as cache:
        for n in range(count):
            cache.put(f"w{worker}-{n}", value(n))


def test_concurrent_writer_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 200)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]

    with ResponseCache(path) as cache:
        assert cache.stats().entries == 800
        assert all(cache.get(f"w{w}-{n}") == value(n) for w in range(4) for n in range(200))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "summarizer.model.cache" and r.levelname == "WARNING"
    ]


def test_corrupt_file_is_a_miss_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.sqlite3"
    path.write_bytes(b"this is not a database\x00\xff" * 100)
    cache = ResponseCache(path)
    assert cache.get("k") is None
    cache.put("k", value())  # does not raise
    assert cache.get("k") is None
    assert cache.clear() == 0
    [message] = warnings_logged(caplog)  # warned once, though every call failed
    assert message.startswith(f"response cache: cannot use {path}") and "retrying" in message
    assert cache.stats().entries == 0
    assert cache.errors == 5  # every call tried the file again
    cache.close()
    assert path.read_bytes().startswith(b"this is not a database")  # left alone


def test_the_cache_works_again_once_the_file_is_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.sqlite3"
    path.write_bytes(b"this is not a database\x00\xff" * 100)
    with ResponseCache(path) as cache:
        cache.put("k", value())
        assert cache.get("k") is None
        path.unlink()  # what the warning tells the user to do, in the middle of a long run
        cache.put("k", value())
        assert cache.get("k") == value()
    first, second = warnings_logged(caplog)
    assert "cannot use" in first and second == f"response cache: {path} works again"


def test_a_locked_cache_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("summarizer.model.cache.BUSY_TIMEOUT_S", 0.1)
    path = tmp_path / "c.sqlite3"
    with ResponseCache(path) as cache:
        cache.put("k", value())
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock longer than the timeout
        cache.put("k", value(2))  # fails: "database is locked"
        assert cache.errors == 1
        other.execute("COMMIT")
        other.close()
        cache.put("k", value(3))  # the lock is gone: the same cache writes again
        assert cache.get("k") == value(3)
    failure, recovered = warnings_logged(caplog)
    assert "database is locked" in failure and recovered.endswith("works again")


def test_unusable_directory_disables_the_cache(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "file").write_text("")
    cache = ResponseCache(tmp_path / "file" / "c.sqlite3")  # its directory cannot be created
    assert cache.get("k") is None
    cache.put("k", value())
    assert cache.stats().entries == 0
    assert len(warnings_logged(caplog)) == 1
    (tmp_path / "file").unlink()  # the obstacle goes: the next call creates the directory and works
    cache.put("k", value())
    assert cache.get("k") == value()


def cache_with_schema_version(tmp_path: Path, version: str) -> Path:
    """A cache file holding one entry, its schema version then set to `version` as another release would."""
    path = tmp_path / "c.sqlite3"
    with ResponseCache(path) as cache:
        cache.put("k", value())
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (version,))
    conn.close()
    return path


def test_newer_schema_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = cache_with_schema_version(tmp_path, "999")
    with ResponseCache(path) as cache:
        assert cache.get("k") is None
    assert "newer" in warnings_logged(caplog)[0]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 1
    conn.close()


def test_older_schema_is_cleared(tmp_path: Path) -> None:
    path = cache_with_schema_version(tmp_path, "0")
    with ResponseCache(path) as cache:
        assert cache.get("k") is None
        cache.put("k", value())
        assert cache.get("k") == value()


def test_cache_dir_env_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "nested" / "dir"
    monkeypatch.setenv("SUMMARIZER_CACHE_DIR", str(target))
    assert cache_dir() == target
    with ResponseCache() as cache:
        assert cache.path == target / "responses.sqlite3"
        cache.put("k", value())
    assert (target / "responses.sqlite3").is_file()


def test_default_dir_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUMMARIZER_CACHE_DIR", raising=False)
    assert cache_dir().name == "summarizer"
