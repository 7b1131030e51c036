"""Qt-free core: discovery, readers, preprocessing, classifier, results, export."""

from __future__ import annotations

import os

# OpenCV reads its decompression-bomb limit only from the environment, and only when cv2
# is first imported; set it before any reader imports cv2 (readers also check headers).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "200000000")
