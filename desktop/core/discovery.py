"""Turn dropped/opened paths (files and folders) into the list of files to read."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from desktop.core.readers import sniff


@dataclass
class Discovery:
    """The files found, in a stable order, and how many entries were skipped."""

    files: list[Path] = field(default_factory=list)
    #: hidden entries, non-images, unreadable folders and broken links
    skipped: int = 0
    #: True when ``cancel`` stopped the walk early
    cancelled: bool = False
    #: paths given that do not exist (named to the person, never dropped in silence)
    missing: list[Path] = field(default_factory=list)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def path_key(path: str | Path) -> str:
    """The identity of a file for de-duplication (resolved, case-normalised path)."""
    p = Path(path)
    try:
        return os.path.normcase(str(p.resolve()))
    except (OSError, RuntimeError):
        return os.path.normcase(os.path.abspath(p))


def discover(paths: Iterable[str | Path], cancel: Callable[[], bool] = lambda: False) -> Discovery:
    """Files and folders (recursive) -> supported files, de-duplicated by resolved path.

    Order: the given order; inside a folder, its files by name, then its subfolders
    by name (depth first). Inside folders, hidden entries and non-images are skipped
    and counted; a file given explicitly is kept (so an unreadable one becomes an
    error row). A folder reached twice (symlink loop, or given twice) is walked once;
    unreadable folders and broken links are counted, never raised.
    """
    out = Discovery()
    seen_files: set[str] = set()
    seen_dirs: set[str] = set()

    def add_file(p: Path, explicit: bool, key: str | None = None) -> None:
        # cheap checks by name/content first: a folder may hold many thousands of non-images
        if not explicit and (_hidden(p.name) or not sniff(p)):
            out.skipped += 1
            return
        key = path_key(p) if key is None else key
        if key in seen_files:
            return
        seen_files.add(key)
        out.files.append(p)

    def walk(top: Path) -> None:
        stack = [top]
        while stack:
            if cancel():
                out.cancelled = True
                return
            folder = stack.pop()
            key = path_key(folder)
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                out.skipped += 1
                continue
            subdirs: list[Path] = []
            for entry in entries:
                if _hidden(entry.name):
                    out.skipped += 1
                    continue
                try:
                    is_dir = entry.is_dir()  # follows links; loops are caught by seen_dirs
                    is_file = not is_dir and entry.is_file()
                except OSError:
                    out.skipped += 1
                    continue
                if is_dir:
                    subdirs.append(Path(entry.path))
                elif is_file:
                    # a plain file's key is its resolved folder's key + its name (no resolve())
                    link = entry.is_symlink()
                    name_key = None if link else os.path.join(key, os.path.normcase(entry.name))
                    add_file(Path(entry.path), explicit=False, key=name_key)
                else:
                    out.skipped += 1  # broken link, socket, fifo, ...
            stack.extend(reversed(subdirs))

    for raw in paths:
        if cancel():
            out.cancelled = True
            break
        p = Path(raw).expanduser()
        try:
            if p.is_dir():
                walk(p)
            elif p.is_file():
                add_file(p, explicit=True)
            elif not p.exists() and not p.is_symlink():
                out.missing.append(p)
            else:
                out.skipped += 1
        except OSError:
            out.skipped += 1
        if out.cancelled:
            break
    return out
