"""Reviewer decisions: a small SQLite store keyed by image sha256 + frame, and agreement.

Decisions on a whole case (confirm or override its verdict) live in the same file, keyed
by the case's resolved path and, for a DICOM series, a hash of its SeriesInstanceUID
(a folder may hold several series): they follow the case when the same files are
opened again, in any order and with any other files.

Every change is committed at once (write-through; SQLite's journal makes a crash
mid-write leave the previous state), so nothing is lost when the app is killed. The
file is created on the first decision only: opening the app writes nothing.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from desktop.core.cases import Case
from desktop.core.results import SliceResult, Status

#: environment variable that overrides the data folder (tests, portable installs)
DATA_DIR_ENV = "BRAIN_MRI_REVIEW_DATA_DIR"
DB_NAME = "decisions.sqlite3"

#: (image_sha256, frame)
Key = tuple[str, int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    image_sha256 TEXT NOT NULL,
    frame INTEGER NOT NULL,
    reviewer_class TEXT,
    note TEXT NOT NULL DEFAULT '',
    model_class TEXT,
    reviewed_at TEXT NOT NULL,
    PRIMARY KEY (image_sha256, frame)
)
"""
_CASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS case_decisions (
    case_path TEXT NOT NULL,
    series TEXT NOT NULL,
    reviewer_verdict TEXT,
    reviewer_class TEXT,
    note TEXT NOT NULL DEFAULT '',
    model_verdict TEXT,
    model_class TEXT,
    reviewed_at TEXT NOT NULL,
    PRIMARY KEY (case_path, series)
)
"""
#: (resolved case path, sha256 of the series UID or "")
CaseKey = tuple[str, str]


def private_file(path: Path) -> None:
    """Create ``path`` readable and writable by its owner only (0600), or make it so."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if os.name == "posix":
        os.chmod(path, 0o600)


class DecisionStoreError(Exception):
    """The decisions file cannot be opened or written (message for a person)."""


class Agreement(str, Enum):
    """Model call vs reviewer call. The values are what exports write."""

    AGREE = "agree"
    DISAGREE = "disagree"
    #: the reviewer set a class where the model made no firm call (uncertain, unsupported)
    NO_MODEL_CALL = "no_model_call"
    NOT_REVIEWED = "not_reviewed"


@dataclass(frozen=True)
class Decision:
    """What the reviewer said about one slice (``reviewer_class`` None: a note only)."""

    image_sha256: str
    frame: int
    reviewer_class: str | None
    note: str = ""
    #: the model's firm call when the decision was made (None: no firm call)
    model_class: str | None = None
    reviewed_at: str = field(default_factory=lambda: now_iso())

    @property
    def key(self) -> Key:
        return (self.image_sha256, self.frame)


@dataclass(frozen=True)
class CaseDecision:
    """What the reviewer said about a whole case.

    ``reviewer_verdict`` is ``"tumour_suspected"`` (with ``reviewer_class``, a tumour
    class, or None: class not said) or ``"no_tumour"``; None: a note only.
    ``model_verdict``/``model_class``: the case's verdict when the decision was made.
    """

    case_path: str
    series: str
    reviewer_verdict: str | None
    reviewer_class: str | None = None
    note: str = ""
    model_verdict: str | None = None
    model_class: str | None = None
    reviewed_at: str = field(default_factory=lambda: now_iso())

    @property
    def key(self) -> CaseKey:
        return (self.case_path, self.series)

    @property
    def agrees(self) -> bool | None:
        """The reviewer's verdict (and class, when both name one) is the model's; None:
        no reviewer verdict, or the model had no firm verdict (uncertain, error)."""
        if self.reviewer_verdict is None or self.model_verdict not in CASE_VERDICTS:
            return None
        if self.reviewer_verdict != self.model_verdict:
            return False
        return self.reviewer_class is None or self.reviewer_class == self.model_class


#: the verdicts a reviewer can give a case (the values of desktop.core.verdict.Verdict)
CASE_VERDICTS = ("tumour_suspected", "no_tumour")


def case_key(case: Case) -> CaseKey:
    """The store key of a case (the series UID only as a hash)."""
    uid = case.series_uid
    return (case.path, hashlib.sha256(uid.encode()).hexdigest()[:32] if uid else "")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def key_of(result: SliceResult) -> Key | None:
    """The store key of a result; None when the file could not be hashed."""
    return (result.image_sha256, result.frame) if result.image_sha256 else None


def model_call(result: SliceResult) -> str | None:
    """The model's firm call (only an ``ok`` status is a call)."""
    return result.predicted_class if result.status is Status.OK else None


def agreement(result: SliceResult, decision: Decision | None) -> Agreement:
    if decision is None or decision.reviewer_class is None:
        return Agreement.NOT_REVIEWED
    call = model_call(result)
    if call is None:
        return Agreement.NO_MODEL_CALL
    return Agreement.AGREE if call == decision.reviewer_class else Agreement.DISAGREE


def default_data_dir(platform_dir: str | Path) -> Path:
    """The data folder: ``$BRAIN_MRI_REVIEW_DATA_DIR`` if set, else ``platform_dir``."""
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(override) if override else Path(platform_dir)


class DecisionStore:
    """Decisions in ``<data_dir>/decisions.sqlite3``; GUI-thread use only."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / DB_NAME
        self._conn: sqlite3.Connection | None = None
        self._cache: dict[Key, Decision] = {}
        self._cases: dict[CaseKey, CaseDecision] = {}
        if self.path.exists():
            self._connect()
            self._load()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            private_file(self.path)  # reviewer notes: the owner's only, as the exports
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(_SCHEMA)
            conn.execute(_CASE_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DecisionStoreError(f"cannot open the decisions file {self.path}: {exc}") from None
        self._conn = conn
        return conn

    def _load(self) -> None:
        assert self._conn is not None
        try:
            rows = self._conn.execute(
                "SELECT image_sha256, frame, reviewer_class, note, model_class, reviewed_at"
                " FROM decisions"
            ).fetchall()
            case_rows = self._conn.execute(
                "SELECT case_path, series, reviewer_verdict, reviewer_class, note,"
                " model_verdict, model_class, reviewed_at FROM case_decisions"
            ).fetchall()
        except sqlite3.Error as exc:
            raise DecisionStoreError(f"cannot read the decisions file {self.path}: {exc}") from None
        for sha, frame, cls, note, model, at in rows:
            d = Decision(str(sha), int(frame), cls, note or "", model, str(at))
            self._cache[d.key] = d
        for path, series, verdict, cls, note, m_verdict, m_cls, at in case_rows:
            c = CaseDecision(str(path), str(series), verdict, cls, note or "", m_verdict, m_cls)
            c = replace(c, reviewed_at=str(at))
            self._cases[c.key] = c

    # -- reading --------------------------------------------------------------------------
    def get(self, key: Key) -> Decision | None:
        return self._cache.get(key)

    def get_many(self, keys: Iterable[Key | None]) -> dict[Key, Decision]:
        return {k: self._cache[k] for k in keys if k is not None and k in self._cache}

    def all(self) -> list[Decision]:
        return list(self._cache.values())

    def __len__(self) -> int:
        return len(self._cache)

    # -- writing --------------------------------------------------------------------------
    def put(self, decisions: Sequence[Decision]) -> None:
        """Save decisions (one transaction); a decision with no class and no note is removed."""
        if not decisions:
            return
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for d in decisions:
                if d.reviewer_class is None and not d.note:
                    conn.execute("DELETE FROM decisions WHERE image_sha256=? AND frame=?", d.key)
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
                        (*d.key, d.reviewer_class, d.note, d.model_class, d.reviewed_at),
                    )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise DecisionStoreError(f"the decision was not saved ({self.path}): {exc}") from None
        for d in decisions:
            if d.reviewer_class is None and not d.note:
                self._cache.pop(d.key, None)
            else:
                self._cache[d.key] = d

    # -- case decisions -------------------------------------------------------------------
    def get_case(self, key: CaseKey) -> CaseDecision | None:
        return self._cases.get(key)

    def all_cases(self) -> list[CaseDecision]:
        return list(self._cases.values())

    def put_case(self, decision: CaseDecision) -> None:
        """Save a case decision; one with no verdict and no note is removed."""
        conn = self._connect()
        gone = decision.reviewer_verdict is None and not decision.note
        try:
            if gone:
                conn.execute(
                    "DELETE FROM case_decisions WHERE case_path=? AND series=?", decision.key
                )
            else:
                d = decision
                conn.execute(
                    "INSERT OR REPLACE INTO case_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*d.key, d.reviewer_verdict, d.reviewer_class, d.note, d.model_verdict)
                    + (d.model_class, d.reviewed_at),
                )
        except sqlite3.Error as exc:
            raise DecisionStoreError(f"the decision was not saved ({self.path}): {exc}") from None
        if gone:
            self._cases.pop(decision.key, None)
        else:
            self._cases[decision.key] = decision

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class AgreementSummary:
    """Agreement between model and reviewer over a set of rows."""

    class_names: tuple[str, ...]
    rows: int
    reviewed: int
    counts: Mapping[Agreement, int]
    #: (model call or "" for no firm call, reviewer class) -> rows
    confusion: Mapping[tuple[str, str], int]

    def per_class(self, name: str) -> tuple[int, int]:
        """(rows the model called ``name`` that were reviewed, of which the reviewer agreed)."""
        total = sum(n for (m, _), n in self.confusion.items() if m == name)
        return total, self.confusion.get((name, name), 0)

    def reviewer_total(self, name: str) -> int:
        return sum(n for (_, r), n in self.confusion.items() if r == name)

    @property
    def agreement_rate(self) -> float | None:
        """Share of reviewed firm calls the reviewer agreed with (None: none reviewed)."""
        agree, disagree = self.counts[Agreement.AGREE], self.counts[Agreement.DISAGREE]
        return agree / (agree + disagree) if agree + disagree else None


def summarise(
    pairs: Iterable[tuple[SliceResult, Decision | None]], class_names: Sequence[str]
) -> AgreementSummary:
    """Counts and a confusion table (model call x reviewer class) of reviewed rows."""
    counts: Counter[Agreement] = Counter({a: 0 for a in Agreement})
    confusion: Counter[tuple[str, str]] = Counter()
    rows = 0
    for result, decision in pairs:
        rows += 1
        a = agreement(result, decision)
        counts[a] += 1
        if decision is not None and decision.reviewer_class is not None:
            confusion[(model_call(result) or "", decision.reviewer_class)] += 1
    reviewed = rows - counts[Agreement.NOT_REVIEWED]
    return AgreementSummary(tuple(class_names), rows, reviewed, dict(counts), dict(confusion))
