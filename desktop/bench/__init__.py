"""``python -m desktop.bench``: how fast the app classifies, against the network's ceiling.

Modules: :mod:`machine` (what it ran on), :mod:`slices` (phantom or folder inputs),
:mod:`headless` (onnxruntime ceiling, end-to-end pipeline, memory over many slices),
:mod:`gui` / :mod:`gui_child` (offscreen window: startup, first row, GUI stalls),
:mod:`folder` (decoding, network, end to end and the naive loop
on the same files), :mod:`torch_eager` (PyTorch eager, measured by ``scripts/bench_torch.py`` in a
subprocess so that nothing in ``desktop`` imports torch).
"""

from __future__ import annotations

#: every figure the benchmark reports, in table order
KEYS = (
    "ort_ceiling_img_s",
    "end_to_end_img_s",
    "torch_eager_img_s",
    "first_row_s",
    "gui_max_stall_ms",
    "gui_volume_stall_ms",
    "peak_rss_mb",
    "rss_growth_mb_per_1000",
    "startup_s",
    "decode_cpu_ms",
    "network_cpu_ms",
    "end_to_end_cpu_ms",
    "naive_img_s",
)
#: the figures of a folder run (issue 17 item 1), measured together on the same files
FOLDER_FIGURES = ("decode_cpu_ms", "network_cpu_ms", "end_to_end_cpu_ms", "naive_img_s")
