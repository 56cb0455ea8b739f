"""How well summarizer.grounding.support agrees with human factuality judgements on FRANK.

    python bench/bench_support.py ../shared/data/frank-valid.jsonl [--ablation]

FRANK (Pagnoni et al. 2021, github.com/artidoro/frank) has human factuality judgements (`human.Factuality`,
0..1: the share of a summary's sentences without an error) for summaries of CNN/DM and XSum articles
written by several systems, and the scores of FactCC and BERTScore for each (`baselines`). As in FRANK, the
correlation is partial: our score and the human score are each regressed on one-hot dummies of the system
that wrote the summary, and the residuals are correlated (Pearson; Spearman on ranks, residualised the same
way). Without that, a metric could score well just by telling systems apart.

Each summary is scored as one claim (its sentences aligned one by one) against an index of its article built
once and shared by the summaries of that article, as the pipeline will do. `--ablation` adds the table of
what each rule buys (bench/README.md keeps the figures); `halves` is the partial Pearson on the even and on
the odd rows, to show how much a figure moves with the sample.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarizer.grounding.support import RULES, THRESHOLD, Rules, SupportIndex, split_sentences

DATASETS = {"cnndm": "CNN/DM", "xsum": "XSum"}
BASELINES = {"FactCC": "FactCC", "BERTScore_P_article": "BERTScore P (article)"}
# Each step adds one rule to the one above it; the last step is the shipped RULES.
_BAG = Rules(
    elsewhere=1.0, pairs=0.0, length_power=0.0, number=1.0, negation=1.0, stem=False, negation_scope=0
)
STEPS: list[tuple[str, Rules]] = [
    ("bag: share of the claim's words found anywhere in the article", _BAG),
    (
        "+ alignment: full credit in the best sentence, 0.75 elsewhere",
        dataclasses.replace(_BAG, elsewhere=0.75),
    ),
    ("+ word pairs (30% of the score)", dataclasses.replace(_BAG, elsewhere=0.75, pairs=0.3)),
    (
        "+ weight = word length squared",
        dataclasses.replace(RULES, number=1.0, negation=1.0, stem=False, negation_scope=0),
    ),
    ("+ numbers and negation words weighted", dataclasses.replace(RULES, stem=False, negation_scope=0)),
    ("+ negation scope (2 words)", dataclasses.replace(RULES, stem=False)),
    ("+ Snowball stems (= shipped rules)", RULES),
]
# One rule of the shipped set changed at a time: how sensitive the figures are to each constant.
VARIANTS: list[tuple[str, Rules]] = [
    ("shipped, alignment off (whole article local)", dataclasses.replace(RULES, align=False)),
    ("shipped, elsewhere credit 0.5", dataclasses.replace(RULES, elsewhere=0.5)),
    ("shipped, pairs 20%", dataclasses.replace(RULES, pairs=0.2)),
    ("shipped, pairs 50%", dataclasses.replace(RULES, pairs=0.5)),
    ("shipped, weight = length", dataclasses.replace(RULES, length_power=1.0)),
    ("shipped, weight = length cubed", dataclasses.replace(RULES, length_power=3.0)),
    ("shipped, number weight 49 (a 7-letter word)", dataclasses.replace(RULES, number=49.0)),
]


def load(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        sys.exit(f"bench_support: cannot read {path}: {e}")


def _residuals(y: np.ndarray, systems: list[str]) -> np.ndarray:
    names = sorted(set(systems))
    x = np.array([[1.0] + [float(s == n) for n in names[1:]] for s in systems])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    return y - x @ beta


def partial(scores: list[float], human: list[float], systems: list[str]) -> tuple[float, float]:
    """Partial Pearson and Spearman of scores with human, the system regressed out of both."""
    x, h = np.asarray(scores, float), np.asarray(human, float)
    pearson = stats.pearsonr(_residuals(x, systems), _residuals(h, systems))[0]
    spearman = stats.pearsonr(_residuals(stats.rankdata(x), systems), _residuals(stats.rankdata(h), systems))[
        0
    ]
    return float(pearson), float(spearman)


def score_rows(rows: list[dict[str, Any]], rules: Rules) -> tuple[list[float], dict[str, float]]:
    """Our score for each row, and timings: ms to index an article, ms to score one summary sentence."""
    indexes: dict[str, SupportIndex] = {}
    scores = []
    index_s = score_s = 0.0
    sentences = 0
    for row in rows:
        start = time.perf_counter()
        index = indexes.get(row["hash"])
        if index is None:
            index = indexes[row["hash"]] = SupportIndex(row["article"], language="en", rules=rules)
        middle = time.perf_counter()
        scores.append(index.score(row["summary"]).score)
        score_s += time.perf_counter() - middle
        index_s += middle - start
        sentences += len(split_sentences(row["summary"]))
    timing = {"index_ms": 1000 * index_s / len(indexes), "sentence_ms": 1000 * score_s / sentences}
    return scores, timing


def flag_rates(rows: list[dict[str, Any]], rules: Rules) -> tuple[float, float]:
    """Share of sentences flagged in the summaries humans found wholly right, and wholly wrong.

    Factuality is judged per summary; only at 1 (no sentence wrong) and 0 (every sentence wrong) does the
    summary's judgement hold for each of its sentences."""
    flags: dict[float, list[bool]] = {0.0: [], 1.0: []}
    indexes: dict[str, SupportIndex] = {}
    for row in rows:
        label = row["human"]["Factuality"]
        if label not in flags:
            continue
        index = indexes.get(row["hash"])
        if index is None:
            index = indexes[row["hash"]] = SupportIndex(row["article"], language="en", rules=rules)
        flags[label] += [index.score(s).flagged for s in split_sentences(row["summary"])]
    return tuple(sum(f) / max(len(f), 1) for f in (flags[1.0], flags[0.0]))  # type: ignore[return-value]


def evaluate(rows: list[dict[str, Any]], rules: Rules) -> dict[str, dict[str, Any]]:
    out = {}
    for ds in DATASETS:
        part = [r for r in rows if r["dataset"] == ds]
        if not part:
            continue
        human = [r["human"]["Factuality"] for r in part]
        systems = [r["system"] for r in part]
        scores, timing = score_rows(part, rules)
        out[ds] = {
            "n": len(part),
            "ours": partial(scores, human, systems),
            "halves": [partial(scores[k::2], human[k::2], systems[k::2])[0] for k in (0, 1)],
            "flags": flag_rates(part, rules),
            **timing,
            "baselines": {
                name: partial([r["baselines"][key] for r in part], human, systems)
                for key, name in BASELINES.items()
            },
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frank_jsonl", type=Path)
    parser.add_argument("--ablation", action="store_true", help="also measure what each rule buys")
    args = parser.parse_args()
    rows = load(args.frank_jsonl)

    result = evaluate(rows, RULES)
    print(
        "| metric | " + " | ".join(f"{DATASETS[d]} ({r['n']}) Pearson / Spearman" for d, r in result.items())
    )
    print("| --- | " + " | ".join("---" for _ in result))
    print(
        "| summarizer.support | "
        + " | ".join(f"{r['ours'][0]:.3f} / {r['ours'][1]:.3f}" for r in result.values())
    )
    for name in BASELINES.values():
        cells = [f"{r['baselines'][name][0]:.3f} / {r['baselines'][name][1]:.3f}" for r in result.values()]
        print(f"| {name} | " + " | ".join(cells))
    for d, r in result.items():
        right, wrong = r["flags"]
        print(
            f"{DATASETS[d]}: {r['index_ms']:.2f} ms to index an article, "
            f"{r['sentence_ms']:.3f} ms to score a summary sentence; "
            f"Pearson on even / odd rows {r['halves'][0]:.3f} / {r['halves'][1]:.3f}; "
            f"sentences flagged (score < {THRESHOLD}): {wrong:.0%} in summaries humans found wholly wrong, "
            f"{right:.0%} in those found right"
        )
    if args.ablation:
        print("\n| rules | CNN/DM Pearson (halves) | XSum Pearson (halves) |\n| --- | --- | --- |")
        for label, rules in STEPS + VARIANTS:
            res = evaluate(rows, rules)
            cells = [
                f"{r['ours'][0]:.3f} ({r['halves'][0]:.2f} / {r['halves'][1]:.2f})" for r in res.values()
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
