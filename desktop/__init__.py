"""Brain MRI Review: offline review of brain MRI slices with an ONNX classifier.

Research use only. Not for diagnostic use.
"""

from __future__ import annotations

__version__ = "0.1.0"
