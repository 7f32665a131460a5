"""The layer rule (model -> engine -> store -> runtime -> planes -> sim -> cli) holds, checked by import-linter."""

import subprocess
import sys
from pathlib import Path

# import-linter's script installed with the interpreter running the tests (no PATH lookup).
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_import_linter_contract_is_kept():
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS}: import-linter is a test dependency (pip install -e '.[test]')"
    out = subprocess.run([str(LINT_IMPORTS)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout
