"""`python -m tfctl` is `tfctl`, with a normal interpreter exit, so profilers and coverage
tools that report when the module returns (pyinstrument, cProfile) still do."""

import sys

from tfctl.cli import main

main(sys.argv[1:])
