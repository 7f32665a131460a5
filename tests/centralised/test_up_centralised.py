"""`berth up --plane centralised`: the launcher starts every service as a process, the demo
tour checks itself, the announcement shows token files (never a token, in no output or log),
and bad options are refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from berth.launch.centralised import PlaneSpec
from berth.model import ValidationError


def test_berth_up_centralised_demo_runs_against_real_processes_and_stops_them(tmp_path):
    """The README's command, through the real CLI entry point."""
    argv = ["up", "--plane", "centralised", "--nodes", "2", "--runtime", "fake", "--port", "0", "--demo",
            "--state-dir", str(tmp_path)]
    done = subprocess.run([sys.executable, "-c", "from berth.cli.main import main; main()", *argv],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "demo complete" in out
    assert "No valid host was found" in out
    assert "berth up: centralised plane ready" in out
    logs = sorted(p.name for p in (tmp_path / "centralised" / "logs").iterdir())
    assert logs == ["cmp-000.log", "cmp-001.log", "compute.log", "conductor.log", "placement.log",
                    "scheduler-0.log"]
    secrets = tmp_path / "centralised" / "secrets"
    assert f'X-Auth-Token: $(cat {secrets / "admin.token"})' in out and "no token: 401" in out
    tokens = [p.read_text().strip() for p in secrets.glob("*.token")]
    texts = [out, done.stderr, *(p.read_text(errors="replace") for p in (tmp_path / "centralised" / "logs").iterdir())]
    assert len(tokens) == 4 and not [t for t in tokens for text in texts if t in text], "a token leaked"


@pytest.mark.parametrize("field, kwargs", [("agents", {"agents": 0}), ("runtime", {"runtime": "nosuch"}),
                                           ("schedulers", {"schedulers": 9}), ("port", {"port": 80})])
def test_bad_options_name_the_field(field, kwargs):
    with pytest.raises(ValidationError) as err:
        PlaneSpec(**kwargs)
    assert err.value.field == field
