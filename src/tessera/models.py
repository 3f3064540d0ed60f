"""Every table on one metadata, for Alembic and the migration parity test.

Each part registers its tables through its spec's `models`; loading the specs of every shipped
module is enough. Migrations create the tables of every module, enabled or not: switching a
module on later needs no migration.
"""

from tessera.core.db.base import Base
from tessera.core.jobs import models as _jobs  # noqa: F401  (the scheduler's claims: no part)
from tessera.core.modules import all_parts

PARTS = all_parts()
metadata = Base.metadata
