"""Batch jobs (placeholder while the routes are written)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request


def add_batch_routes(app: FastAPI, service: Any) -> None:
    return None
