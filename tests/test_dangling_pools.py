"""The leak checks behind the autouse fixtures catch what they are for."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import leaked_threads


def test_a_thread_left_running_is_reported() -> None:
    release = threading.Event()
    ex = ThreadPoolExecutor(1, thread_name_prefix="leaky")
    ex.submit(release.wait, 20)
    try:
        assert [n for n in leaked_threads([ex], grace=0.2) if n.startswith("leaky")]
    finally:
        release.set()
        ex.shutdown(wait=True)
    assert leaked_threads([ex], grace=1.0) == []


def test_a_pool_not_shut_down_is_reported() -> None:
    ex = ThreadPoolExecutor(1, thread_name_prefix="idle")
    ex.submit(lambda: None).result()
    try:
        assert leaked_threads([ex], grace=0.2)  # idle but alive: never shut down
    finally:
        ex.shutdown(wait=True)
