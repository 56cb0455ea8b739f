"""Errors a user can act on. Each carries an exit code the CLI returns, so scripts can tell them apart."""

from __future__ import annotations

from typing import Any


class SummarizerError(Exception):
    """Base class: a one-line message for the user, and the CLI's exit code."""

    exit_code = 1
    # Set by the pipeline when the error happened inside one task, so a message can name the prompt.
    task: str | None = None
    prompt_version: str | None = None
    run: Any = None  # the failed task's TaskRun (attempts and tokens spent), when the pipeline knows it


class InputError(SummarizerError):
    """The article could not be read: missing, unreadable, empty, binary, not UTF-8, too large."""

    exit_code = 2


class ConfigError(SummarizerError):
    """A setting is invalid or contradicts another one."""

    exit_code = 2


class EndpointError(SummarizerError):
    """The model endpoint could not be reached, or refused the key or the model."""

    exit_code = 3


class LocalModelError(EndpointError):
    """The embedded local model could not be started."""


class ModelOutputError(SummarizerError):
    """The model's output still failed validation after every retry."""

    exit_code = 4


class PartialResultError(SummarizerError):
    """Some pieces of the article failed and `--require-complete` asked for all or nothing."""

    exit_code = 6
