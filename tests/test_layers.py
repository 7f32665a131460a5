"""Every import-linter contract in pyproject.toml holds: the layers (model -> engine -> store -> runtime ->
planes -> launch -> sim -> cli), clients that never load the API server, and the cycles kept broken."""

import subprocess
import sys
import tomllib
from pathlib import Path

# import-linter's script installed with the interpreter running the tests (no PATH lookup).
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


ROOT = Path(__file__).parents[1]


def test_import_linter_contracts_are_kept():
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS}: import-linter is a test dependency (pip install -e '.[test]')"
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    out = subprocess.run([str(LINT_IMPORTS)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(contracts)} kept, 0 broken" in out.stdout
