"""The ``chordsim`` console script: the command line, from the extension module.

Signals are the command line's own here, as in the binary: SIGINT gets its default action back
(Python's handler would only set a flag nobody reads while the engine runs), and ``explore`` and
``harden`` install their own handlers to stop cleanly and keep what they found.
"""

import signal
import sys

from chordsim import _chordsim


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_chordsim.main(sys.argv))
