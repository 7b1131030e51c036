"""``python -m desktop``, the ``brain-mri-review`` console script and the frozen executable.

BrainMRIReview [PATHS...]              the review window (see --help)
BrainMRIReview --cli PATHS --csv OUT   the headless CLI (see --cli --help)
BrainMRIReview --self-test             check the installation offline, no display needed
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch on the first argument; the window otherwise."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--self-test"]:
        from desktop.selftest import main as self_test

        return self_test(args[1:])
    if args[:1] == ["--cli"]:
        from desktop.cli import main as cli

        return cli(args[1:])
    from desktop.logging_setup import install_excepthook, setup_logging

    install_excepthook(setup_logging())
    from desktop.ui.app import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
