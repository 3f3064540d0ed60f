"""A client machine needs the client and the protocol code, not the server."""

import json
import subprocess
import sys

SERVER_SIDE = ("tessera.core", "tessera.modules", "tessera.app", "fastapi", "sqlalchemy")


def test_the_tokens_client_imports_nothing_of_the_server() -> None:
    probe = (
        "import json, sys\n"
        "import tessera.client.tokens, tessera.client.tokens_http\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert "tessera.protocols.tokens.crypto" in loaded  # the probe did import the client
    leaked = [name for name in loaded if name.startswith(SERVER_SIDE)]
    assert leaked == []
