from tessera.core.audit.cli import cli
from tessera.core.modules import ModuleSpec

module = ModuleSpec(name="audit", cli=cli)
