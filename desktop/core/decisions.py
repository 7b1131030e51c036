"""Reviewer decisions: a small SQLite store keyed by image sha256 + frame, and agreement.

Every change is committed at once (write-through; SQLite's journal makes a crash
mid-write leave the previous state), so nothing is lost when the app is killed. The
file is created on the first decision only: opening the app writes nothing.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

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
        except sqlite3.Error as exc:
            raise DecisionStoreError(f"cannot read the decisions file {self.path}: {exc}") from None
        for sha, frame, cls, note, model, at in rows:
            d = Decision(str(sha), int(frame), cls, note or "", model, str(at))
            self._cache[d.key] = d

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
