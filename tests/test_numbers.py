"""Numbers read by value: digits, separators, currency and scale words, and English written numbers."""

from summarizer.grounding.numbers import find_numbers, value_key


def values(text: str, *, english: bool = True) -> list[float]:
    return [value for _, _, value in find_numbers(text, english=english)]


def test_digits_with_separators_scales_and_currency() -> None:
    assert values("3,000 troops, $5m, 2.5 billion and 40 per cent") == [3000, 5e6, 2.5e9, 40]
    assert values("a 5m drop") == [5]  # without a currency sign, "m" is more likely metres


def test_english_numbers_written_in_words() -> None:
    assert values("three thousand and twenty-five soldiers") == [3025]
    assert values("two and three") == [2, 3]  # "and" joins only after hundred or a scale word
    assert values("deux mille", english=False) == []


def test_offsets_point_at_the_number_as_written() -> None:
    text = "Officials counted twenty-five boats."
    ((start, end, _),) = find_numbers(text, english=True)
    assert text[start:end] == "twenty-five"


def test_value_keys_compare_equal_values() -> None:
    assert value_key(1000.0) == value_key(1e3) == "1000"
