"""`python -m tfctl` is `tfctl`."""

from tfctl.cli import main

main()
