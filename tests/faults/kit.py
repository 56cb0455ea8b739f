"""Helpers shared by the fault suite and the batch tests: tagged articles, and checks on a batch's files
that treat each result as an opaque JSON line keyed by id."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ARTICLE = (ROOT / "bench" / "article.txt").read_text(encoding="utf-8")
# bench/fake_openai.py answers an article holding REF-<tag> with answers carrying answer-for-<tag>.
ANSWER = re.compile(r"answer-for-([A-Za-z0-9_]+)")


def write_articles(folder: Path, n: int, *, markers: dict[int, str] | None = None) -> dict[str, Path]:
    """n tagged articles a00.txt, a01.txt, ... (article i also holds markers[i]); {tag: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i in range(n):
        tag = f"a{i:02d}"
        extra = (markers or {}).get(i, "")
        paths[tag] = folder / f"{tag}.txt"
        paths[tag].write_text(f"Article number {i}. REF-{tag} {extra}\n{ARTICLE}", encoding="utf-8")
    return paths


def lines(path: Path) -> list[dict]:
    """Every line of a JSONL file, each required to be whole JSON (a torn line fails the test)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def id_counts(path: Path) -> Counter[str]:
    return Counter(str(record["id"]) for record in lines(path))


def tags_of_results(path: Path) -> dict[str, set[str]]:
    """For each result line: the tags of the answers it holds (its own article's tag, if nothing mixed)."""
    return {str(r["id"]): set(ANSWER.findall(json.dumps(r["analysis"]))) for r in lines(path)}
