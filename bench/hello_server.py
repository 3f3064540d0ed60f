"""Serve bench/hello_app.py through `tessera.server`, as `tessera serve` serves Tessera."""

from __future__ import annotations

import os

from tessera.core.config import Settings
from tessera.server import serve


def main() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    port = int(os.environ["HELLO_PORT"])
    workers = int(os.environ.get("HELLO_WORKERS", "1"))
    serve("hello_app:create_app", settings, host="127.0.0.1", port=port, workers=workers)


if __name__ == "__main__":
    main()
