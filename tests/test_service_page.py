"""The evidence page in a real headless Chromium (Debian's, driven by playwright): it loads without console
errors, a submitted article shows its highlights, and clicking a stance scrolls to its sentence; the
self-contained file of `render_html` (and of `summarizer summarize --format html`) does the same with
nothing fetched.

The submitted article goes through the real service to the fake model endpoint; the richer analysis the
file tests show (several stances, dates, an unknown name) is built here, with citations copied from the
text as the pipeline does. Under CI=true a missing chromium or playwright fails instead of skipping.

    python tests/test_service_page.py analysis.json docs/service-page.png   # a screenshot of an analysis
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for bench/, when run as a script

from bench.fake_openai import in_thread  # noqa: E402
from bench.fake_openai import serve as fake_endpoint  # noqa: E402
from summarizer.model.local import free_port  # noqa: E402
from summarizer.service import render_html  # noqa: E402
from tests.conftest import missing  # noqa: E402

pytestmark = [pytest.mark.system, pytest.mark.block_network(allowed_hosts=["127.0.0.1"])]
SEED = (ROOT / "seeds" / "000_576e96b86ee510dd.txt").read_text(encoding="utf-8").strip()
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of each sentence: a run ending in . ! or ? (and closing quotes), or at a line end."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S(?:[^\n]*?(?:[.!?][”\"’]*(?=\s|$))|[^\n]*)", text)]


def analysis_fixture(text: str) -> dict[str, Any]:
    """An analysis of `text` in the grounded shape: citations point at the sentences naming their cue."""
    spans = sentence_spans(text)

    def cite(*cues: str) -> tuple[list[int], list[dict[str, Any]]]:
        numbers = [next(n for n, (s, e) in enumerate(spans, 1) if cue in text[s:e]) for cue in cues]
        return numbers, [
            {
                "sentence": n,
                "start": spans[n - 1][0],
                "end": spans[n - 1][1],
                "text": text[slice(*spans[n - 1])],
            }
            for n in numbers
        ]

    def date(cue: str, start: str, *, scheduled: bool = False) -> dict[str, Any]:
        at = text.index(cue)
        resolved = {
            "start": start,
            "end": start,
            "precision": "day",
            "method": "absolute",
            "scheduled": scheduled,
        }
        return {"text": cue, "start": at, "end": at + len(cue), "resolved": resolved}

    clean = {"unsupported_entities": [], "support": 0.9, "unsupported_words": [], "flagged": False}
    kp1, kp1_ev = cite("Shoigu a tour")
    kp2, kp2_ev = cite("Russia and China both sent")
    st1, st1_ev = cite("fully supports the Kremlin")
    st2, st2_ev = cite("deeply irresponsible")
    st3, st3_ev = cite("analysts believe")
    ev1, ev1_ev = cite("July 26")
    ev2, ev2_ev = cite("July 24")
    return {
        "summary": {
            "headline": "Kim shows Shoigu North Korea's missiles",
            "summary": "Russia's defence minister toured North Korea's weapons.",
            "key_points": [
                {
                    "text": "Kim showed Shoigu his missiles.",
                    "sentences": kp1,
                    "evidence": kp1_ev,
                    "check": clean,
                },
                {
                    "text": "Russia and China sent delegations.",
                    "sentences": kp2,
                    "evidence": kp2_ev,
                    "check": clean,
                },
            ],
            "checks": {"headline": clean, "summary": clean},
        },
        "stances": [
            {
                "actor": "Kang Sun Nam",
                "target": "Kremlin",
                "position": "Supports the Kremlin's war.",
                "polarity": "supports",
                "sentences": st1,
                "evidence": st1_ev,
                "unknown_names": [],
                "check": clean,
            },
            {
                "actor": "United States",
                "target": "North Korea",
                "position": "Condemns the missile tests.",
                "polarity": "opposes",
                "sentences": st2,
                "evidence": st2_ev,
                "unknown_names": [],
                "check": clean,
            },
            {
                "actor": "Bruce Bennett",
                "target": "North Korea",
                "position": "Sees acceptance of its programme.",
                "polarity": "neutral",
                "sentences": st3,
                "evidence": st3_ev,
                "unknown_names": ["Bruce Bennett"],
                "check": {**clean, "flagged": True, "support": 0.2},
            },
        ],
        "events": [
            {
                "description": "Photos of the tour were released.",
                "event_type": "OTHER",
                "actors": ["North Korean media"],
                "recipients": [],
                "location": None,
                "sentences": ev1,
                "evidence": ev1_ev,
                "date": date("July 26", "2023-07-26", scheduled=True),
                "unknown_names": [],
                "check": clean,
            },
            {
                "description": "A US submarine arrived in South Korea.",
                "event_type": "MOBILIZE",
                "actors": ["United States"],
                "recipients": ["South Korea"],
                "location": "South Korea",
                "sentences": ev2,
                "evidence": ev2_ev,
                "date": date("July 24", "2023-07-24"),
                "unknown_names": [],
                "check": clean,
            },
        ],
        "checks": {
            "items": 5,
            "unknown_names": 1,
            "dropped": 0,
            "entity_precision": 1.0,
            "flagged_fields": 1,
        },
        "article": {"title": "Kim and Shoigu", "published": "2023-07-25", "text": text, "sentences": spans},
        "metadata": {
            "model": "fixture",
            "endpoint": "compatible",
            "usage": {"total_tokens": 0},
            "seconds": 0.0,
        },
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (the dev extra)")
    if not Path(CHROMIUM).exists():
        missing("chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@contextmanager
def open_page(browser: Any, url: str) -> Iterator[tuple[Any, list[str], list[str]]]:
    """The page, its console errors and the URLs it requested."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    try:
        yield page, errors, requests
    finally:
        page.close()


def check_evidence_links(page: Any, analysis: dict[str, Any]) -> None:
    check_highlights(page, analysis, stance=1)
    # The timeline in date order, the scheduled event marked, the unknown name flagged.
    assert page.locator("#timeline .when").all_inner_texts() == ["2023-07-24", "2023-07-26"]
    assert page.locator("#timeline .scheduled").count() == 1
    assert "not in the article: Bruce Bennett" in page.locator("#st-3").inner_text()
    assert page.locator("#polarity span").count() == 3


def check_highlights(page: Any, analysis: dict[str, Any], *, stance: int) -> None:
    """Exactly the cited sentences are highlighted, each showing the cited text; stance number `stance`
    (0-based) links to its sentence and back."""
    citations = [c for part in ("stances", "events") for item in analysis[part] for c in item["evidence"]] + [
        c for kp in analysis["summary"]["key_points"] for c in kp["evidence"]
    ]
    cited = {c["sentence"] for c in citations}
    assert cited, "the analysis cites nothing"
    page.wait_for_selector("#result:not([hidden])")
    assert sorted(
        int(n) for n in page.eval_on_selector_all(".sent.cited", "els => els.map(e => e.dataset.n)")
    ) == sorted(cited)
    for c in citations:
        assert c["text"] in page.locator(f"#s-{c['sentence']}").inner_text()
    # A stance -> its sentence, scrolled into view and marked.
    chosen = analysis["stances"][stance]
    sentence = page.locator(f"#s-{chosen['evidence'][0]['sentence']}")
    page.locator(f"#st-{stance + 1}").click()
    assert "focus" in (sentence.get_attribute("class") or "")
    assert sentence.is_visible() and _in_viewport(page, sentence)
    # And back: the sentence's link goes to the stance.
    sentence.locator(".backrefs a", has_text=f"S{stance + 1}").click()
    assert "focus" in (page.locator(f"#st-{stance + 1}").get_attribute("class") or "")


def _in_viewport(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def test_self_contained_file_shows_the_evidence_and_fetches_nothing(browser: Any, tmp_path: Path) -> None:
    analysis = analysis_fixture(SEED + "\n</script><script>alert(1)</script>")
    path = tmp_path / "analysis.html"
    path.write_text(render_html(analysis), encoding="utf-8")
    with open_page(browser, path.as_uri()) as (page, errors, requests):
        check_evidence_links(page, analysis)
        assert "</script><script>alert(1)</script>" in page.locator("#text").inner_text()
    assert errors == []
    assert requests == [path.as_uri()]


@contextmanager
def running_service(base_url: str) -> Iterator[str]:
    from summarizer.model.settings import resolve_settings
    from summarizer.service.app import ServiceConfig, create_app

    settings = resolve_settings(base_url=base_url, model="bench-model", max_retries=0, env={})
    jobs = tempfile.TemporaryDirectory()
    app = create_app(settings, ServiceConfig(cache=False, prices={}, jobs_db=Path(jobs.name) / "jobs.sqlite"))
    try:
        with in_thread(app) as port:
            yield f"http://127.0.0.1:{port}/"
    finally:
        jobs.cleanup()


def test_served_page_submits_an_article_and_shows_its_highlights(browser: Any) -> None:
    with fake_endpoint(free_port(), 0.01) as endpoint, running_service(endpoint) as url:
        with open_page(browser, url) as (page, errors, requests):
            # Through the real service and the fake model: its answer's citations are highlighted.
            page.fill("#article", SEED)
            with page.expect_response("**/v1/analyses") as answer:
                page.click("#submit")
            served = answer.value.json()
            page.wait_for_selector(".sent.cited")
            assert page.locator("#headline").inner_text() == served["summary"]["headline"]
            assert page.locator("#text").inner_text().startswith(SEED[:80])
            check_highlights(page, served, stance=0)
        assert errors == []
        assert all(r.startswith(url) for r in requests), requests


def test_served_page_shows_a_problem_as_one_line(browser: Any) -> None:
    with (
        fake_endpoint(free_port(), 0.01) as endpoint,
        running_service(endpoint) as url,
        open_page(browser, url) as (page, _errors, _),
    ):
        page.fill("#article", "   ")
        page.click("#submit")
        page.wait_for_selector("#error:not([hidden])")
        assert page.locator("#error").inner_text() == "Bad input: text: contains only whitespace"


def test_summarize_format_html_writes_a_self_contained_evidence_page(browser: Any, tmp_path: Path) -> None:
    article, out = tmp_path / "article.txt", tmp_path / "analysis.html"
    article.write_text(SEED, encoding="utf-8")
    # In a process of its own: the CLI runs an event loop, and playwright's is running in this one.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with fake_endpoint(free_port(), 0.0) as endpoint:
        args = ["summarize", str(article), "--format", "html", "-o", str(out), "--no-cache"]
        command = [
            sys.executable,
            "-m",
            "summarizer",
            *args,
            "--base-url",
            endpoint,
            "--model",
            "bench-model",
        ]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with open_page(browser, out.as_uri()) as (page, errors, requests):
        shown = page.evaluate("() => JSON.parse(document.getElementById('analysis-data').textContent)")
        assert shown["article"]["text"] == SEED
        check_highlights(page, shown, stance=0)
        assert page.locator("#headline").inner_text() == shown["summary"]["headline"]
    assert errors == []
    assert requests == [out.as_uri()]  # the script, style and data are all in the file


def screenshot(analysis: dict[str, Any], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        html = out.resolve().with_suffix(".tmp.html")
        html.write_text(render_html(analysis), encoding="utf-8")
        page.goto(html.as_uri())
        page.screenshot(path=str(out), full_page=False)
        html.unlink()
        chromium.close()


if __name__ == "__main__":
    source = json.loads(Path(sys.argv[1]).read_text()) if sys.argv[1] != "fixture" else analysis_fixture(SEED)
    screenshot(source, Path(sys.argv[2]))


def test_a_dropped_html_page_is_sent_as_html(browser: Any) -> None:
    page_html = f"<!doctype html><html><head><title>Kim</title></head><body><p>{SEED}</p></body></html>"
    with (
        fake_endpoint(free_port(), 0.01) as endpoint,
        running_service(endpoint) as url,
        open_page(browser, url) as (page, errors, _),
    ):
        sent: dict[str, Any] = {}

        def grounded(route: Any) -> None:
            sent.update(json.loads(route.request.post_data))
            body = json.dumps(analysis_fixture(SEED))
            route.fulfill(status=200, content_type="application/json", body=body)

        page.route("**/v1/analyses", grounded)
        transfer = page.evaluate_handle(
            """(html) => {
                const dt = new DataTransfer();
                dt.items.add(new File([html], "saved-page.html", { type: "text/html" }));
                return dt;
            }""",
            page_html,
        )
        page.dispatch_event("#form", "drop", {"dataTransfer": transfer})
        page.wait_for_function("() => document.getElementById('article').value.length > 0")
        page.click("#submit")
        page.wait_for_selector(".sent.cited")
    assert sent["html"] == page_html and "text" not in sent
    assert errors == []


def test_swagger_ui_works_offline(browser: Any) -> None:
    with (
        fake_endpoint(free_port(), 0.01) as endpoint,
        running_service(endpoint) as url,
        open_page(browser, url + "docs") as (page, errors, requests),
    ):
        page.wait_for_selector('[data-path="/v1/analyses"]')
        assert "summarizer" in page.title()
    assert errors == []
    assert all(r.startswith(url) or r.startswith("data:") for r in requests), requests
