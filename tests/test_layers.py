"""The architecture as a test: `lint-imports` checks the contracts in pyproject.toml ([tool.importlinter]):
a stage imports only the stages below it, the command modules never import each other, and so on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import missing

ROOT = Path(__file__).resolve().parent.parent


def test_no_upward_import_and_no_cycle() -> None:
    lint = shutil.which("lint-imports") or shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        missing("import-linter is not installed (the dev extra has it)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_pytest_plugin_loads_without_the_pipeline() -> None:
    """The plugin is a guest in every pytest session of the environment: loading it must not import openai,
    instructor, dateparser or the pipeline (its fixtures do, when a test uses them)."""
    heavy = (
        "openai",
        "instructor",
        "dateparser",
        "summarizer.pipeline.summarizer",
        "summarizer.model.client",
    )
    code = f"import sys, summarizer.testing; print([m for m in {heavy!r} if m in sys.modules])"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
