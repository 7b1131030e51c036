"""``python -m desktop`` and the ``brain-mri-review`` console script."""

from __future__ import annotations

import sys


def main() -> int:
    """Open the review window (see ``brain-mri-review --help``)."""
    from desktop.ui.app import run

    return run()


if __name__ == "__main__":
    sys.exit(main())
