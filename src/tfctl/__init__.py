"""tfctl: a Terraform control plane in one command-line tool."""

__version__ = "0.1.0"
