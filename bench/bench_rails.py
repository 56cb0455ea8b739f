"""Extractive against free rails, in one run, on one model: ROUGE of headline + summary against the
references, beside lead-3 and an extractive oracle, flagged fields, what the model picked, and time.

    python bench/bench_rails.py DEV.jsonl --out DIR            # the embedded model, both rails
    python bench/bench_rails.py DEV.jsonl --out DIR --rails extractive --base-url URL --model M

- ROUGE is `summarizer.evaluation.evaluate.rouge` (rouge-score, F1, Porter stemming) of
  `headline + " " + summary`, as `summarizer eval` scores it; lead-3 is `evaluate.lead3`.
- The oracle is greedy: up to 3 of the article's sentences (`evaluate.sentences`), each step adding the
  one that most raises the mean of ROUGE-1 and ROUGE-2 F1 against the reference, stopping when none does.
  An upper bound for any choice of article sentences, not a summary anyone could make without the reference.
- "first ids offered": no model; the first headline candidate and the first three summary sentences, what
  extractive rails give a model that answers by its prior on the first options (NOTES.md).
- "picks": for extractive rails, the summary's sentence numbers and the headline's candidate, and how many
  articles' summaries are exactly the first sentences (the lead prior of NOTES.md).
- The articles run one after another, each rails in turn on the same server: the timings are comparable.

Writes `DIR/<rails>.results.jsonl` (each line `{"id", "analysis"}`, what `summarizer eval --results`
scores) and `DIR/rails.json` with the figures; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from summarizer.core.article import article_from_text
from summarizer.core.segment import split_sentences
from summarizer.evaluation.evaluate import lead3, load_eval_set, rouge, sentences, summary_text
from summarizer.evaluation.quality import field_checks
from summarizer.grounding.ground import Grounding
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer
from summarizer.pipeline.extractive import Extractive


def oracle(text: str, reference: str, most: int = 3) -> str:
    """The greedy extractive oracle of the module docstring."""
    pool = sentences(text)
    chosen: list[int] = []
    best = 0.0
    while len(chosen) < most:
        scored = []
        for i in range(len(pool)):
            if i in chosen:
                continue
            picked = " ".join(pool[j] for j in sorted([*chosen, i]))
            r = rouge(picked, reference)
            scored.append(((r["rouge1"] + r["rouge2"]) / 2, i))
        if not scored:
            break
        value, i = max(scored)
        if value <= best:
            break
        best, chosen = value, [*chosen, i]
    return " ".join(pool[j] for j in sorted(chosen))


def first_offered(text: str, summary: int = 3) -> str:
    """What extractive rails give a model that takes the first ids offered (the lead prior of NOTES.md):
    the first headline candidate and the first `summary` sentences the summary may be chosen from."""
    article = article_from_text(text)
    x = Extractive(Grounding(article, split_sentences(article.text)))
    numbers = tuple(s.number for s in x.grounding.sentences)
    head = x.offered("headline", numbers)[0].text
    chosen = x.summary_numbers(numbers)[:summary]
    return " ".join([head, *(x.grounding.sentences[n - 1].text for n in chosen)])


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.fmean(r[k] for r in rows), 3) for k in rows[0]} if rows else {}


def run(rails: str, dataset: list[Any], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    settings = resolve_settings(base_url=args.base_url, model=args.model, mode=args.mode, rails=rails)
    if args.name_choices:  # a server of one's own running the embedded model: names as the embedded default
        settings = settings.with_overrides(name_choices=True)
    rows, picks, flagged, checked, extractive = [], [], 0, 0, 0
    failures: list[str] = []
    seconds = []
    started = time.perf_counter()
    with Summarizer(settings, notice=lambda _: None) as s, open(out / f"{rails}.results.jsonl", "w") as f:
        for article in dataset:
            t = time.perf_counter()
            try:
                analysis = s.summarize(article.text)
            except Exception as exc:  # a failed article is reported, not fatal for the comparison
                failures.append(f"{article.id}: {exc}")
                continue
            seconds.append(time.perf_counter() - t)
            print(f"{rails} {article.id}: {seconds[-1]:.1f} s", file=sys.stderr, flush=True)
            f.write(json.dumps({"id": article.id, "analysis": analysis.model_dump(mode="json")}) + "\n")
            text = summary_text(analysis)
            if text is not None:
                rows.append(rouge(text, article.reference))
            checks = field_checks(analysis)
            checked += len(checks)
            flagged += sum(c.flagged for c in checks)
            extractive += sum(c.extractive for c in checks)
            if analysis.summary is not None and analysis.summary.spans:
                numbers = [sp.sentence for sp in analysis.summary.spans["summary"]]
                picks.append(
                    {
                        "id": article.id,
                        "summary": numbers,
                        "headline": analysis.summary.spans["headline"][0].id,
                    }
                )
    leads = sum(p["summary"] == list(range(1, len(p["summary"]) + 1)) for p in picks)
    return {
        "rails": rails,
        "articles": len(dataset),
        "failed": failures,
        "rouge": _mean(rows),
        "checked_fields": checked,
        "flagged_fields": flagged,
        "extractive_fields": extractive,
        "seconds_total": round(time.perf_counter() - started, 1),
        "seconds_median": round(statistics.median(seconds), 1) if seconds else None,
        "picks": picks,
        "summaries_that_are_the_lead": leads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rails", default="extractive,free")
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--mode")
    parser.add_argument("--limit", type=int)
    parser.add_argument(
        "--name-choices",
        action="store_true",
        help="names picked from the article's, as for the embedded model (for --base-url serving it)",
    )
    args = parser.parse_args()
    dataset = load_eval_set(args.dataset)[: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    baselines = {
        "lead-3": _mean([rouge(lead3(a.text), a.reference) for a in dataset]),
        "oracle (greedy, 3 sentences)": _mean(
            [rouge(oracle(a.text, a.reference), a.reference) for a in dataset]
        ),
        "first ids offered (no model)": _mean([rouge(first_offered(a.text), a.reference) for a in dataset]),
    }
    runs: list[dict[str, Any]] = []
    report = {"command": " ".join(sys.argv), "baselines": baselines, "runs": runs}
    for rails in (r.strip() for r in args.rails.split(",") if r.strip()):
        runs.append(run(rails, dataset, args, args.out))
        (args.out / "rails.json").write_text(json.dumps(report, indent=2) + "\n")  # after each rails
    print("| | ROUGE-1 | ROUGE-2 | ROUGE-L | flagged fields | seconds (total / median) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in baselines.items():
        print(f"| {name} | {r['rouge1']:.3f} | {r['rouge2']:.3f} | {r['rougeL']:.3f} | | |")
    for run_ in runs:
        r = run_["rouge"] or {"rouge1": 0, "rouge2": 0, "rougeL": 0}
        flagged = f"{run_['flagged_fields']} of {run_['checked_fields']}"
        print(
            f"| {run_['rails']} | {r['rouge1']:.3f} | {r['rouge2']:.3f} | {r['rougeL']:.3f} | {flagged} "
            f"| {run_['seconds_total']} / {run_['seconds_median']} |"
        )
        if run_["picks"]:
            leads, picked = run_["summaries_that_are_the_lead"], len(run_["picks"])
            print(f"  {run_['rails']}: summaries that are the article's first sentences: {leads} of {picked}")
        if run_["failed"]:
            print(f"  {run_['rails']}: failed: {run_['failed']}")


if __name__ == "__main__":
    main()
