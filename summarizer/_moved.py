"""The module paths of the flat layout (before the subpackages), kept importable for one release.

`import summarizer.client` gives `summarizer.model.client`, the same module object (so that patching one
patches the other). Old paths whose name is now a subpackage (`summarizer.pipeline`, `summarizer.batch`,
`summarizer.render`, `summarizer.corpus`, `summarizer.cli`, `summarizer.testing`) answer the old names
from the package itself. New code imports the new paths; docs/python-api.md lists the moves.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType

MOVED = {
    "article": "core.article",
    "errors": "core.errors",
    "files": "core.files",
    "jsonl": "core.jsonl",
    "schemas": "core.schemas",
    "segment": "core.segment",
    "text": "core.text",
    "budget": "model.budget",
    "cache": "model.cache",
    "client": "model.client",
    "engine": "model.engine",
    "local": "model.local",
    "pricing": "model.pricing",
    "settings": "model.settings",
    "weights": "model.weights",
    "candidates": "grounding.candidates",
    "date_patterns": "grounding.date_patterns",
    "dates": "grounding.dates",
    "ground": "grounding.ground",
    "names": "grounding.names",
    "numbers": "grounding.numbers",
    "support": "grounding.support",
    "assemble": "pipeline.assemble",
    "extractive": "pipeline.extractive",
    "merge": "pipeline.merge",
    "prompts": "pipeline.prompts",
    "batch_output": "batch.output",
    "batch_parquet": "batch.parquet",
    "batch_ray": "batch.ray",
    "openai_batch": "batch.openai_batch",
    "export": "corpus.export",
    "compare": "evaluation.compare",
    "evaluate": "evaluation.evaluate",
    "quality": "evaluation.quality",
    "report": "evaluation.report",
    "report_plots": "evaluation.plots",
    "cassettes": "testing.cassettes",
    "cli_corpus": "cli.batch",
    "cli_serve": "cli.serve",
    "entry": "cli.entry",
    "service.page": "render.page",
}
"""Old module (under `summarizer.`) -> its new path (under `summarizer.`)."""


def old_names(package: str, modules: tuple[str, ...]) -> Callable[[str], object]:
    """The `__getattr__` of a package whose name was a flat module (`summarizer.batch`): it answers that
    module's names from the submodules that now hold them, imported when first asked for."""

    def __getattr__(name: str) -> object:
        for module in modules:
            found = importlib.import_module(f"{package}.{module}")
            if hasattr(found, name):
                return getattr(found, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


class _OldPath(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `summarizer.<old>` and answers with the module at its new path."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        root, _, old = fullname.partition(".")
        if root != __package__ or old not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(f"{__package__}.{MOVED[spec.name.partition('.')[2]]}")
        self._spec = module.__spec__  # the import machinery overwrites it with the old path's spec
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec  # the module keeps its own name and origin


def install() -> None:
    if not any(isinstance(finder, _OldPath) for finder in sys.meta_path):
        sys.meta_path.append(_OldPath())
