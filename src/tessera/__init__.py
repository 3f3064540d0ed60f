"""Tessera: one service, one shared core (identity, ledger) and product modules."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tessera")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
