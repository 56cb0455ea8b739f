"""Every command, registered on `app` (cli/common.py) by importing its module, in the order `--help` lists
them. The command modules import `app` and never each other."""

from __future__ import annotations

# isort: off
from . import summarize  # summarize, schema
from . import prompts  # prompts list|show|check
from . import batch  # batch
from . import corpus  # merge, cache stats|clear
from . import evaluate  # eval
from . import serve  # serve

# isort: on
from .common import app

__all__ = ["app", "batch", "corpus", "evaluate", "prompts", "serve", "summarize"]
