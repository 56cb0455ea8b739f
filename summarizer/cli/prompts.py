"""`summarizer prompts list|show|check`: the prompt templates, their versions, their cassettes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.article import read_article
from ..core.errors import ConfigError
from ..core.schemas import EXTRACTIVE_SUFFIX, PROMPT_MODELS
from ..core.segment import split_sentences
from ..pipeline.prompts import PromptSet, fence_tag, schema_of
from .common import PromptsDirOpt, app, cli_errors

prompts_app = typer.Typer(help="List and show the prompt templates.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")


@prompts_app.command("list")
@cli_errors
def prompts_list(prompts_dir: PromptsDirOpt = None) -> None:
    """The prompts, their versions and files."""
    prompts = PromptSet.load(prompts_dir)
    for name in prompts.names():
        model = PROMPT_MODELS.get(name)
        version = prompts.version(name, schema_of(model) if model else None)
        sys.stdout.write(f"{name}\t{version}\t{prompts.directory / (name + '.j2')}\n")


@prompts_app.command("show")
@cli_errors
def prompts_show(
    name: Annotated[str, typer.Argument(help="The prompt, e.g. summary.")],
    article: Annotated[str, typer.Option(help="Render with this article (a file or -).")],
    prompts_dir: PromptsDirOpt = None,
) -> None:
    """Show the rendered messages a task sends for an article that fits one request: its sentences
    numbered, inside the fence tagged with the article's hash, as the pipeline sends them."""
    prompts = PromptSet.load(prompts_dir)
    a = read_article(article)
    sentences = split_sentences(a.text, a.language)
    numbered = "\n".join(s.numbered() for s in sentences)
    tag = fence_tag(a.text)
    extra = None
    if name.endswith(EXTRACTIVE_SUFFIX):  # its candidate lists, as the pipeline makes them
        from ..grounding.ground import Grounding
        from ..pipeline.extractive import Extractive

        x = Extractive(Grounding(a, sentences, pick_names=True))
        extra = x.prompt_values(name.removesuffix(EXTRACTIVE_SUFFIX), [s.number for s in sentences])
    rendered = prompts.render(name, text=numbered, title=a.title, published=a.published, tag=tag, extra=extra)
    for message in rendered:
        sys.stdout.write(f"--- {message['role']} ---\n{message['content']}\n")


@prompts_app.command("check")
@cli_errors
def prompts_check(
    cassettes: Annotated[Path, typer.Option(help="The cassettes directory.")] = Path("cassettes"),
    prompts_dir: PromptsDirOpt = None,
) -> None:
    """For every prompt, whether its recorded cassettes still match its current version. Exit 1 if any
    is stale (re-record those tests with --record-mode=rewrite)."""
    from ..testing.cassettes import check_cassettes

    if not cassettes.is_dir():
        raise ConfigError(f"no cassettes directory at {cassettes}")
    report = check_cassettes(PromptSet.load(prompts_dir), cassettes)
    for entry in report:
        line = f"{entry.prompt}\t{entry.version}\t{entry.status}"
        sys.stdout.write(line + "".join(f"\n\t{f}" for f in sorted(entry.stale_files)) + "\n")
    if any(entry.stale for entry in report):
        raise typer.Exit(1)
