import datetime as dt
import json

from summarizer.render import render, to_json, to_markdown
from summarizer.schemas import (
    ArticleAnalysis,
    ArticleInfo,
    CheckedEvent,
    CheckedStance,
    Grounding,
    Metadata,
    ResolvedDate,
    Summary,
    TaskRun,
    Usage,
)


def _analysis() -> ArticleAnalysis:
    usage = Usage(prompt_tokens=100, completion_tokens=20, total_tokens=120)
    return ArticleAnalysis(
        summary=Summary(
            headline="Kim shows Shoigu missiles", summary="Kim gave Shoigu a tour.", key_points=["A tour."]
        ),
        stances=[
            CheckedStance(
                actor="Kang Sun Nam",
                target="Kremlin",
                position="Fully supports its battle for justice.",
                polarity="supports",
                evidence="fully supports the Kremlin",
                grounding=Grounding(status="exact", start=10, end=36, score=100),
            )
        ],
        events=[
            CheckedEvent(
                description="Photos were released.",
                event_type="OTHER",
                actors=["North Korean media"],
                date_text="July 26",
                evidence="released on July 26",
                resolved_date=ResolvedDate(
                    start=dt.date(2023, 7, 26), end=dt.date(2023, 7, 26), precision="day", method="relative"
                ),
                grounding=Grounding(status="ungrounded", reason="not found"),
            )
        ],
        article=ArticleInfo(text="..."),
        metadata=Metadata(
            model="m",
            endpoint="embedded",
            mode="tools",
            prompt_versions={"summary": "abc"},
            tasks={"summary": TaskRun(prompt_version="abc", attempts=1, usage=usage, seconds=1.0)},
            usage=usage,
            attempts=1,
            seconds=1.0,
            summarizer_version="0",
        ),
    )


def test_json_round_trips():
    a = _analysis()
    assert ArticleAnalysis.model_validate(json.loads(to_json(a))) == a


def test_markdown_has_every_section_and_the_evidence_status():
    md = to_markdown(_analysis())
    assert md.startswith("# Kim shows Shoigu missiles")
    assert "## Stances" in md and "**Kang Sun Nam** supports **Kremlin**" in md and "exact [10:36]" in md
    assert "## Events" in md and "`OTHER`" in md and "2023-07-26 (day)" in md and "ungrounded" in md
    assert "120 tokens" in md


def test_terminal_rendering_is_plain_text_with_the_content():
    text = render(_analysis(), "text")
    assert "Kim shows Shoigu missiles" in text and "Kang Sun Nam" in text and "July 26" in text
    assert "\x1b[" not in text
