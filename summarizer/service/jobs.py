"""Batch jobs (placeholder while the routes are written)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def add_batch_routes(app: FastAPI, service: Any) -> None:
    return None
