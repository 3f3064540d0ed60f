"""The ledger part: wallet and admin routers, `tessera ledger check`, the registration hook."""

from __future__ import annotations

from tessera.core.ledger import hooks
from tessera.core.ledger.cli import cli
from tessera.core.ledger.endpoints import admin_router, router
from tessera.core.modules import ModuleSpec

# At import: any process that loads the ledger part (API, worker, CLI) opens wallets on
# registration, including accounts created by `tessera create-admin`.
hooks.install()

module = ModuleSpec(name="ledger", routers=[router, admin_router], cli=cli)
