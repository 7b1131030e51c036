"""One vocabulary (issue 16.9): the window, the exports and the CLI say the same words."""

from __future__ import annotations

from desktop.core.results import SliceResult, Status
from desktop.core.vocabulary import STATUS_WORDS, best_guess, class_label, firm_call


def test_status_words_are_the_export_values() -> None:
    assert {s: STATUS_WORDS[s] for s in Status} == {s: s.value for s in Status}
    assert STATUS_WORDS[Status.UNSUPPORTED] == "unsupported"


def test_a_guess_is_never_a_call() -> None:
    ok = SliceResult("/a.png", 0, Status.OK, predicted_class="glioma")
    unsure = SliceResult("/b.png", 0, Status.UNCERTAIN, predicted_class="no_tumor")
    assert (firm_call(ok), best_guess(ok)) == ("glioma", None)
    assert (firm_call(unsure), best_guess(unsure)) == (None, "no_tumor")
    assert class_label("no_tumor") == "no tumor"
