"""Text made plain: one table of quotes and dashes for names and merging alike."""

from summarizer.core.text import folded, plain
from summarizer.grounding.name_forms import name_form


def test_quotes_primes_and_dashes_become_ascii_and_nothing_else_changes() -> None:
    assert plain("“Kim’s” ‹visit› – ﬁne´s") == "\"Kim's\" 'visit' - fine's"
    assert plain("Pyongyang  STAYS") == "Pyongyang  STAYS"  # case and spacing are the caller's


def test_names_and_merging_read_quotes_alike() -> None:
    # Both once had their own table (one mapped ‹›, the other ` and ´): a name compared in one place
    # and merged in another now reads the same.
    for mark in "’‹›`´":
        assert folded(f"Kim{mark}s") == "kim's"
        assert name_form(f"O{mark}Brien") == "O'Brien"
