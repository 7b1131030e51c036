"""Qt-free core: discovery, readers, preprocessing, classifier, results, export."""

from __future__ import annotations
