"""The house rule "modules never import each other; core never imports a module" is enforced."""

import shutil
import subprocess
import sys
from pathlib import Path

import tessera

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("lint-imports")),
            "--config",
            str(ROOT / "pyproject.toml"),
        ],
        cwd=source_root,
        env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def copy_package(tmp_path: Path) -> Path:
    target = tmp_path / "src"
    shutil.copytree(
        Path(tessera.__file__).parent,
        target / "tessera",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("alpha", "beta"):
        package = target / "tessera" / "modules" / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text('"""A module."""\n')
    (target / "tessera" / "modules" / "__init__.py").touch()
    return target


def test_the_real_tree_keeps_the_contracts() -> None:
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_module_importing_another_module_fails_the_build(tmp_path: Path) -> None:
    src = copy_package(tmp_path)
    (src / "tessera" / "modules" / "alpha" / "leak.py").write_text("import tessera.modules.beta\n")
    result = lint_imports(src)
    assert result.returncode != 0
    assert "modules never import each other" in result.stdout and "BROKEN" in result.stdout


def test_core_importing_a_module_fails_the_build(tmp_path: Path) -> None:
    src = copy_package(tmp_path)
    (src / "tessera" / "core" / "leak.py").write_text("from tessera.modules import alpha\n")
    result = lint_imports(src)
    assert result.returncode != 0
    assert "core never imports a module" in result.stdout
