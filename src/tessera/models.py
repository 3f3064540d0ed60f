"""Imports every table so `Base.metadata` is complete for Alembic and the parity test.

Migrations create the tables of every module, enabled or not: switching a module on later
needs no migration.
"""

from tessera.core.audit import models as _audit  # noqa: F401
from tessera.core.db.base import Base
from tessera.core.idempotency import models as _idempotency  # noqa: F401
from tessera.core.identity import models as _identity  # noqa: F401
from tessera.core.jobs import models as _jobs  # noqa: F401
from tessera.core.ledger import models as _ledger  # noqa: F401
from tessera.modules.tokens import models as _tokens  # noqa: F401

metadata = Base.metadata
