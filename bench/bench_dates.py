"""Date finding and resolution measured on TimeML: detection, values, and values given the gold texts.

    python bench/bench_dates.py TIMEML_DIR [--baseline] [--errors]

Each .tml file has a document creation time (DCT) and TIMEX3 elements with a type and a normalised value.
The text scored is the TEXT element with its tags removed; gold extents are character offsets into it.

What counts:
- Scored gold: DATE TIMEX3s whose value is a calendar value: a day (1998-08-07), a month (1998-08), a year
  (1998) or an ISO week (1998-W32). PRESENT_REF/PAST_REF/FUTURE_REF, seasons (1998-SU), quarters,
  decades (199X), values with unknown parts (1998-XX, XXXX-08-07), times of day (1998-08-07TNI) and
  durations are not scored: ResolvedDate has no way to say them, so a right answer could not be told
  from a wrong one.
- A found mention that overlaps a gold TIMEX3 which is not scored (any type) is ignored: neither right nor
  wrong. A found mention that overlaps no gold TIMEX3 at all is a false positive.
- Detection: a gold DATE is found when a mention overlaps it; a mention is right when it overlaps a gold
  DATE. Value: the mention's resolved span written at the gold's granularity (day, month, year, week)
  must equal the gold value; a mention of another precision, a range, or unresolved is wrong.
- Value F1 (as TempEval-3): precision = right values / scored mentions, recall = right values / scored gold.
- On gold: resolve_date(gold text, DCT, sentence=its sentence) against the gold value, for every scored
  gold DATE (--no-sentence: without the sentence, as the resolver was called before).

--baseline finds dates with dateparser's search_dates alone (each substring resolved with resolve_date).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dateparser.search import search_dates

from summarizer.core.schemas import ResolvedDate
from summarizer.core.segment import covering_spans, split_sentences
from summarizer.grounding.dates import DateMention, find_dates, resolve_date

_CALENDAR = re.compile(r"\d{4}(-\d{2}(-\d{2})?|-W\d{2})?")


@dataclass(frozen=True)
class Timex:
    start: int
    end: int
    text: str
    type: str
    value: str

    @property
    def scored(self) -> bool:
        return self.type == "DATE" and _CALENDAR.fullmatch(self.value) is not None


@dataclass(frozen=True)
class Doc:
    name: str
    dct: dt.date
    text: str
    timexes: list[Timex]


def read_tml(path: Path) -> Doc:
    root = ET.parse(path).getroot()
    dct_value = root.find("DCT/TIMEX3")
    if dct_value is None:
        raise SystemExit(f"{path}: no DCT")
    dct = dt.date.fromisoformat(dct_value.get("value", "")[:10])
    body = root.find("TEXT")
    if body is None:
        raise SystemExit(f"{path}: no TEXT")
    parts: list[str] = []
    timexes: list[Timex] = []

    def walk(node: ET.Element) -> None:
        parts.append(node.text or "")
        for child in node:
            start = sum(map(len, parts))
            walk(child)
            if child.tag == "TIMEX3":
                text = "".join(parts)[start:]
                attrs = child.attrib
                timexes.append(Timex(start, start + len(text), text, attrs["type"], attrs.get("value", "")))
            parts.append(child.tail or "")

    walk(body)
    return Doc(path.stem, dct, "".join(parts), timexes)


def value_at(resolved: ResolvedDate | None, gold: str) -> str | None:
    """The resolved span written at the gold value's granularity, if it has that precision."""
    if resolved is None:
        return None
    start = resolved.start
    if "W" in gold and resolved.precision == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    formats = {4: ("year", "%Y"), 7: ("month", "%Y-%m"), 10: ("day", "%Y-%m-%d")}
    precision, fmt = formats.get(len(gold), ("", ""))
    return start.strftime(fmt) if resolved.precision == precision else None


def baseline(text: str, published: dt.date) -> list[DateMention]:
    """dateparser's search_dates alone, each substring found left to right and resolved."""
    settings = {"RELATIVE_BASE": dt.datetime(1904, 2, 10), "RETURN_AS_TIMEZONE_AWARE": False}
    found = search_dates(text, languages=["en"], settings=settings) or []
    out, pos = [], 0
    for sub, _ in found:
        start = text.find(sub, pos)
        if start < 0:
            continue
        pos = start + len(sub)
        out.append(DateMention(sub, start, pos, resolve_date(sub, published)))
    return out


def overlaps(a_start: int, a_end: int, b: Timex) -> bool:
    return a_start < b.end and b.start < a_end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("timeml_dir", type=Path)
    ap.add_argument("--baseline", action="store_true", help="search_dates alone instead of find_dates")
    ap.add_argument("--no-sentence", dest="sentence", action="store_false", help="gold texts without context")
    ap.add_argument("--errors", action="store_true", help="print every miss, false positive and wrong value")
    args = ap.parse_args()
    paths = sorted(args.timeml_dir.glob("*.tml"))
    if not paths:
        raise SystemExit(f"no .tml files in {args.timeml_dir}")
    finder = baseline if args.baseline else lambda text, dct: find_dates(text, dct, language="en")
    gold_n = found_gold = right_found_value = mentions_n = mentions_right = values_right = on_gold = 0
    seconds: list[float] = []
    words = 0
    for path in paths:
        doc = read_tml(path)
        scored = [t for t in doc.timexes if t.scored]

        t0 = time.perf_counter()
        mentions = finder(doc.text, doc.dct)
        seconds.append(time.perf_counter() - t0)
        words += len(doc.text.split())
        sentences = covering_spans(split_sentences(doc.text), len(doc.text))  # as DateFinder reads them
        for g in scored:
            gold_n += 1
            s_start, s_end = next((a, b) for a, b in sentences if a <= g.start < b)
            sentence = doc.text[s_start:s_end] if args.sentence else None
            value = value_at(resolve_date(g.text, doc.dct, sentence=sentence), g.value)
            on_gold += value == g.value
            if args.errors and value != g.value:
                print(f"  gold-text {doc.name}: {g.text!r} -> {value} (gold {g.value})")
            hits = [m for m in mentions if overlaps(m.start, m.end, g)]
            if hits:
                found_gold += 1
                good = any(value_at(m.resolved, g.value) == g.value for m in hits)
                right_found_value += good
                if args.errors and not good:
                    got = [(m.text, value_at(m.resolved, g.value)) for m in hits]
                    print(f"  value {doc.name}: {g.text!r} gold {g.value} got {got}")
            elif args.errors:
                print(f"  missed {doc.name}: {g.text!r} ({g.value})")
        for m in mentions:
            touched = [t for t in doc.timexes if overlaps(m.start, m.end, t)]
            if touched and not any(t.scored for t in touched):
                continue  # overlaps only gold that is not scored (another type, or a non-calendar value)
            mentions_n += 1
            hit = [t for t in touched if t.scored]
            mentions_right += bool([t for t in touched if t.type == "DATE"])
            values_right += any(value_at(m.resolved, t.value) == t.value for t in hit)
            if args.errors and not touched:
                print(f"  false positive {doc.name}: {m.text!r} ...{doc.text[m.start - 30 : m.end + 30]!r}")

    p, r = mentions_right / mentions_n, found_gold / gold_n
    vp, vr = values_right / mentions_n, right_found_value / gold_n
    print(f"{len(paths)} documents, {gold_n} scored DATE values, {mentions_n} scored mentions found")
    print(f"detection: precision {100 * p:.1f}  recall {100 * r:.1f}  F1 {200 * p * r / (p + r):.1f}")
    print(f"value accuracy on the expressions found: {100 * right_found_value / found_gold:.1f} %")
    print(f"value F1: {200 * vp * vr / (vp + vr):.1f}  (precision {100 * vp:.1f}, recall {100 * vr:.1f})")
    print(f"value accuracy given the gold texts: {100 * on_gold / gold_n:.1f} % ({on_gold}/{gold_n})")
    print(
        f"finder time: median {1000 * statistics.median(seconds):.1f} ms/doc, "
        f"{1000 * sum(seconds) / words * 1000:.1f} ms per 1,000 words"
    )


if __name__ == "__main__":
    main()
