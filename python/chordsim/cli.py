"""The ``chordsim`` console script: the command line, from the extension module.

Signals are the command line's own here (it installs its handlers, as the binary does).
"""

import sys

from chordsim import _chordsim


def main() -> None:
    sys.exit(_chordsim.main(sys.argv))
