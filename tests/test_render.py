import datetime as dt
import io
import json

from rich.console import Console

from summarizer.core.schemas import (
    ArticleAnalysis,
    ArticleInfo,
    CheckedEvent,
    CheckedKeyPoint,
    CheckedStance,
    CheckedSummary,
    Citation,
    EventDate,
    FieldCheck,
    ResolvedDate,
)
from summarizer.render import clean_text, render, to_json, to_markdown, to_terminal

from .eval_fixtures import metadata

ARTICLE = "Kang Sun Nam said he fully supports the Kremlin. Photos were released on July 26."


def _cite(sentence: str, number: int) -> Citation:
    start = ARTICLE.index(sentence)
    return Citation(sentence=number, start=start, end=start + len(sentence), text=sentence)


def _analysis() -> ArticleAnalysis:
    first, second = _cite(ARTICLE[:48], 1), _cite(ARTICLE[49:], 2)
    return ArticleAnalysis(
        summary=CheckedSummary(
            headline="Kim shows Shoigu missiles",
            summary="Kim gave Shoigu a tour.",
            key_points=[CheckedKeyPoint(text="A tour.", sentences=[2], evidence=[second])],
        ),
        stances=[
            CheckedStance(
                actor="Kang Sun Nam",
                target="Kremlin",
                position="Fully supports its battle for justice.",
                polarity="supports",
                sentences=[1],
                evidence=[first],
            )
        ],
        events=[
            CheckedEvent(
                description="Photos were released.",
                event_type="OTHER",
                actors=["North Korean media"],
                sentences=[2],
                evidence=[second],
                date=EventDate(
                    text="July 26",
                    start=ARTICLE.index("July 26"),
                    end=ARTICLE.index("July 26") + 7,
                    resolved=ResolvedDate(
                        start=dt.date(2023, 7, 26),
                        end=dt.date(2023, 7, 26),
                        precision="day",
                        method="relative",
                    ),
                ),
                unknown_names=["North Korean media"],
                check=FieldCheck(unsupported_entities=["Photos"], flagged=True),
            )
        ],
        article=ArticleInfo(text=ARTICLE),
        metadata=metadata(attempts=1, tokens=120, seconds=1.0),
    )


def test_json_round_trips():
    a = _analysis()
    assert ArticleAnalysis.model_validate(json.loads(to_json(a))) == a


def test_markdown_has_every_section_the_cited_sentences_and_the_checks():
    md = to_markdown(_analysis())
    assert md.startswith("# Kim shows Shoigu missiles")
    assert "- A tour. [2]" in md
    assert "## Stances" in md and "**Kang Sun Nam** supports **Kremlin**" in md
    assert "  > [1] Kang Sun Nam said he fully supports the Kremlin." in md
    assert "## Events" in md and "`OTHER`" in md and "2023-07-26 (day)" in md
    assert "⚠ unsupported: Photos" in md and "⚠ not in the article: North Korean media" in md
    assert "120 tokens" in md


def test_terminal_rendering_is_plain_text_with_the_content():
    text = render(_analysis(), "text")
    assert "Kim shows Shoigu missiles" in text and "Kang Sun Nam" in text and "July 26" in text
    assert "\x1b[" not in text


# --- hostile text: article and model text must not drive the terminal or add Markdown of its own --------

# A title change (OSC), a colour, a cursor move up with erase-line (hides the line above), a bell, a C1
# CSI, a carriage return that would overwrite the line, and a bidi override that reorders what is shown.
HOSTILE = "Kim\x1b]0;pwned\x07 \x1b[31mred\x1b[0m\x1b[1A\x1b[2K ok\x07\x9b31m\x9d2;pwned\x9c\rdone\u202eevil"


def _hostile() -> ArticleAnalysis:
    a = _analysis()
    assert a.summary is not None and a.stances is not None and a.events is not None
    return a.model_copy(
        update={
            "summary": a.summary.model_copy(
                update={
                    "headline": "Head\x1b[2J\nline",
                    "summary": HOSTILE,
                    "key_points": [a.summary.key_points[0].model_copy(update={"text": HOSTILE})],
                }
            ),
            "stances": [
                a.stances[0].model_copy(
                    update={
                        "actor": HOSTILE,
                        "evidence": [Citation(sentence=1, start=0, end=0, text=HOSTILE)],
                    }
                )
            ],
            "events": [
                a.events[0].model_copy(
                    update={
                        "description": HOSTILE,
                        "actors": [HOSTILE],
                        "date": EventDate(text="July\x1b[8m 26", start=0, end=0),
                    }
                )
            ],
        }
    )


def _assert_clean(text: str) -> None:
    bad = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, bad
    assert "\u202e" not in text
    # the escape sequences' parameters went with them, and the text around them stayed
    assert "pwned" not in text and "31m" not in text and "2K" not in text
    assert "red" in text and "ok" in text and "done" in text


def test_markdown_strips_control_characters_and_keeps_each_field_on_its_line():
    md = to_markdown(_hostile())
    _assert_clean(md)
    assert md.startswith("# Head line\n")  # the newline did not end the heading early
    assert "July 26" in md
    # every line is one of ours: nothing the model wrote starts a heading, list item or quote of its own
    for line in md.splitlines():
        assert line == "" or line.startswith(("#", "- ", "  > ", "---", "_", "Kim")), line


def test_terminal_output_strips_escape_sequences():
    text = render(_hostile(), "text")
    _assert_clean(text)
    assert "Head" in text and "line" in text


def test_terminal_output_on_a_colour_terminal_has_only_richs_own_escapes():
    # On a real terminal rich adds its own styling; the article's sequences must still be gone.
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=200)
    to_terminal(_hostile(), console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "pwned" not in out and "\x07" not in out and "\x1b]" not in out and "\x1b[2J" not in out
    assert "\x1b[1A" not in out and "\u202e" not in out


def test_clean_text_keeps_newlines_tabs_and_right_to_left_marks():
    assert clean_text("a\tb\r\nc\rd\u200fe") == "a\tb\nc\nd\u200fe"


def test_markdown_text_that_would_start_a_block_stays_a_paragraph():
    a = _analysis()
    assert a.summary is not None
    cited = a.summary.key_points[0]
    points = [cited.model_copy(update={"text": t}) for t in ("> quoted", "1. numbered", "ok")]
    summary = a.summary.model_copy(update={"summary": "# Pwned\n\n## Stances\n- fake", "key_points": points})
    md = to_markdown(a.model_copy(update={"summary": summary}))
    lines = md.splitlines()
    assert r"\# Pwned ## Stances - fake" in lines
    assert [line for line in lines if line.startswith("- ")][:3] == [
        "- &gt; quoted [2]",
        r"- 1\. numbered [2]",
        "- ok [2]",
    ]
    assert sum(line == "## Stances" for line in lines) == 1  # only ours


def test_markdown_escapes_raw_html_and_makes_no_link_from_article_text():
    from markdown_it import MarkdownIt  # rich's own Markdown parser: CommonMark, raw HTML on

    a = _analysis()
    assert a.summary is not None and a.stances is not None
    attack = '<script>alert(1)</script> <img src=x onerror="alert(2)"> [click](javascript:alert(3))'
    sneaky = r"\[more\](javascript:alert(4)) ![i](x.png) <https://evil.example>"
    point = a.summary.key_points[0].model_copy(update={"text": sneaky})
    summary = a.summary.model_copy(update={"summary": attack, "key_points": [point]})
    evidence = [Citation(sentence=1, start=0, end=0, text=attack)]
    stance = a.stances[0].model_copy(update={"position": attack, "evidence": evidence})
    md = to_markdown(a.model_copy(update={"summary": summary, "stances": [stance]}))
    shown = MarkdownIt("commonmark").render(md)
    assert "<script" not in shown and "<img" not in shown and "<a " not in shown, shown
    assert "&lt;script&gt;alert(1)" in shown and "[click](javascript:alert(3))" in shown  # shown as text
