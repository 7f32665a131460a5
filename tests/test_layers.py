"""The layer rule (model -> engine -> store -> runtime -> planes -> sim -> cli) holds, checked by import-linter."""

import shutil
import subprocess
from pathlib import Path


def test_import_linter_contract_is_kept():
    exe = shutil.which("lint-imports")
    assert exe, "import-linter is a test dependency"
    out = subprocess.run([exe], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout
