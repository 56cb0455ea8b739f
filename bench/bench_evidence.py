"""How long locating one quote takes, by case, in a 50,000-character article.

    python bench/bench_evidence.py

The article is sentences of the seed article shuffled into 50,000 characters; the quote is 300 characters
of it, taken verbatim (exact), with four words changed (fuzzy), or from elsewhere (absent: a full fuzzy
search that finds nothing). Median of 20 runs each.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from summarizer.evidence import locate_quote

SEED = (Path(__file__).resolve().parent / "article.txt").read_text()


def main() -> None:
    rng = random.Random(7)
    words = SEED.split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 25))) for _ in range(700)]
    article = "\n".join(lines)[:50_000]
    exact = article[30_000:30_300]
    fuzzy = exact.replace(" ", " qq ", 4)
    absent = "Nothing of the kind was reported by any agency on any day of the week in that place. " * 3
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("command: python bench/bench_evidence.py")
    for name, quote in (("exact", exact), ("fuzzy", fuzzy), ("absent", absent)):
        times = []
        for _ in range(20):
            started = time.perf_counter()
            grounding = locate_quote(quote, article)
            times.append(time.perf_counter() - started)
        print(f"{name:>7}: {statistics.median(times) * 1000:6.1f} ms  ({grounding.status})")


if __name__ == "__main__":
    main()
