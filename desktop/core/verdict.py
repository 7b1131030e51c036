"""The case verdict: one documented rule over a case's slice results.

The rule (its parameters are the model's :class:`~desktop.core.model_spec.CaseRule`)
asks one question, tumour or not; which tumour class, and whether a slice's status
was ``ok`` or ``uncertain``, do not enter it:

1. The case's slices are taken in anatomical order (``slice_index``). A slice is
   *classified* when its status is ``ok`` or ``uncertain``; its tumour probability is
   ``1 - P(negative_class)``. A classified slice whose tumour probability is at least
   ``slice_threshold`` is a *tumour slice*.
2. A *run* is a sequence of slices that are neighbours in that order (any other slice
   between them, whatever its status, ends the run). ``need`` is ``min_run``, or the
   number of slices of a case that has fewer.
3. Verdict, the first that applies:
   * ``tumour_suspected``: a run of at least ``need`` tumour slices. The suspected
     class is the tumour class with the largest summed probability over the slices of
     such runs; the first and last suspect slices are the ends of those runs;
   * ``error``: every slice (or the file) could not be read;
   * ``uncertain``: no slice was classified, or fewer than ``min_classified_fraction``
     of the slices were (the rest unsupported: not like the model's data), or a run
     of at least ``need`` classified slices each with a tumour probability of at least
     ``doubt_threshold`` (a near miss);
   * ``no_tumour`` otherwise.
   ``tumour_slices`` counts every tumour slice of the case (also those outside runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from desktop.core.cases import Case, CaseKind, CasePlan
from desktop.core.model_spec import CaseRule
from desktop.core.results import SliceResult, Status


class Verdict(str, Enum):
    """What became of a case. The values are what exports write."""

    TUMOUR_SUSPECTED = "tumour_suspected"
    NO_TUMOUR = "no_tumour"
    UNCERTAIN = "uncertain"
    ERROR = "error"


class SliceCall(Protocol):
    """What the rule reads from a slice result (a SliceResult has all of it)."""

    @property
    def status(self) -> Status: ...
    @property
    def probabilities(self) -> tuple[float, ...] | None: ...
    @property
    def slice_index(self) -> int: ...


@dataclass(frozen=True)
class CaseVerdict:
    """The verdict of one case and the counts behind it."""

    verdict: Verdict
    suspected_class: str | None
    #: slice indices (anatomical order) of the first and last suspect slice
    first_slice: int | None
    last_slice: int | None
    tumour_slices: int
    slices: int
    #: slices per status (ok, uncertain, unsupported, error)
    counts: dict[Status, int]
    #: why, in words
    reason: str


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(start, end) positions, inclusive, of the runs of True."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - 1))
            start = None
    return out


def case_verdict(
    slices: Iterable[SliceCall], class_names: Sequence[str], rule: CaseRule
) -> CaseVerdict:
    """The verdict of one case from its slice results (see the module text)."""
    ordered = sorted(slices, key=lambda s: s.slice_index)
    counts = {s: 0 for s in Status}
    for s in ordered:
        counts[s.status] += 1
    n = len(ordered)
    names = list(class_names)
    if rule.negative_class not in names:
        reason = f"the model has no {rule.negative_class!r} class"
        return CaseVerdict(Verdict.UNCERTAIN, None, None, None, 0, n, counts, reason)
    neg = names.index(rule.negative_class)
    classified = [
        s.status in (Status.OK, Status.UNCERTAIN) and s.probabilities is not None for s in ordered
    ]
    p_tumour = [
        1.0 - s.probabilities[neg] if c and s.probabilities is not None else 0.0
        for s, c in zip(ordered, classified, strict=True)
    ]
    flags = [c and p >= rule.slice_threshold for c, p in zip(classified, p_tumour, strict=True)]
    tumour = sum(flags)
    need = max(1, min(rule.min_run, n))
    runs = [(a, b) for a, b in _runs(flags) if b - a + 1 >= need]
    if runs:
        suspect = [ordered[i] for a, b in runs for i in range(a, b + 1)]
        sums = [0.0] * len(names)
        for s in suspect:
            assert s.probabilities is not None
            for k, p in enumerate(s.probabilities):
                sums[k] += p
        best = max((k for k in range(len(names)) if k != neg), key=lambda k: sums[k])
        longest = max(b - a + 1 for a, b in runs)
        reason = f"{longest} adjacent tumour slice(s) (at least {need} needed)"
        return CaseVerdict(
            Verdict.TUMOUR_SUSPECTED,
            names[best],
            ordered[runs[0][0]].slice_index,
            ordered[runs[-1][1]].slice_index,
            tumour,
            n,
            counts,
            reason,
        )
    if n == 0 or counts[Status.ERROR] == n:
        reason = "no slice could be read"
        return CaseVerdict(Verdict.ERROR, None, None, None, 0, n, counts, reason)
    n_classified = sum(classified)
    if n_classified == 0:
        reason = "no slice could be classified"
        return CaseVerdict(Verdict.UNCERTAIN, None, None, None, 0, n, counts, reason)
    if n_classified < rule.min_classified_fraction * n:
        reason = f"only {n_classified} of {n} slice(s) could be classified"
        return CaseVerdict(Verdict.UNCERTAIN, None, None, None, tumour, n, counts, reason)
    leaning = [c and p >= rule.doubt_threshold for c, p in zip(classified, p_tumour, strict=True)]
    near = [b - a + 1 for a, b in _runs(leaning) if b - a + 1 >= need]
    if near:
        reason = (
            f"{max(near)} adjacent slice(s) lean towards a tumour (P >= "
            f"{rule.doubt_threshold:g}) without {need} adjacent tumour slices (P >= "
            f"{rule.slice_threshold:g})"
        )
        return CaseVerdict(Verdict.UNCERTAIN, None, None, None, tumour, n, counts, reason)
    reason = (
        f"no {need} adjacent tumour slices ({tumour} tumour slice(s) in all)"
        if tumour
        else "no tumour slice"
    )
    return CaseVerdict(Verdict.NO_TUMOUR, None, None, None, tumour, n, counts, reason)


@dataclass(frozen=True)
class CaseReport:
    """One case with its verdict: a row of the cases export."""

    case: Case
    verdict: CaseVerdict


def case_reports(
    plan: CasePlan,
    results: Iterable[SliceResult],
    class_names: Sequence[str],
    rule: CaseRule,
) -> list[CaseReport]:
    """The verdict of every case of ``plan`` that has results, in the plan's order.

    Results whose case is not in the plan (not planned) each form a case of their own
    file.
    """
    by_case: dict[str, list[SliceResult]] = {}
    for r in results:
        by_case.setdefault(r.case or r.path, []).append(r)
    out: list[CaseReport] = []
    for case in plan.cases:
        rows = by_case.pop(case.id, None)
        if rows:
            out.append(CaseReport(case, case_verdict(rows, class_names, rule)))
    for key, rows in by_case.items():  # not planned: one case per file
        kind = CaseKind.IMAGE if len(rows) == 1 else CaseKind.MULTIFRAME
        case = Case(key, rows[0].path, kind, (rows[0].path,))
        out.append(CaseReport(case, case_verdict(rows, class_names, rule)))
    return out
