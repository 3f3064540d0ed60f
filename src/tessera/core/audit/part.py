from tessera.core.audit import models
from tessera.core.audit.cli import cli
from tessera.core.modules import ModuleSpec

module = ModuleSpec(name="audit", models=models, cli=cli)
