"""`berth up --plane centralised`: the launcher starts every service as a process, the demo
tour checks itself, and bad options are refused before anything starts."""

from __future__ import annotations

import pytest

from berth.cli.up_centralised import PlaneSpec, up
from berth.model import ValidationError


def test_the_demo_tour_runs_against_real_processes_and_stops_them(tmp_path, capsys):
    up(agents=2, state_dir=str(tmp_path), runtime="fake", port=0, demo=True)
    out = capsys.readouterr().out
    assert "demo complete" in out
    assert "No valid host was found" in out
    logs = sorted(p.name for p in (tmp_path / "centralised" / "logs").iterdir())
    assert logs == ["cmp-000.log", "cmp-001.log", "compute.log", "conductor.log", "placement.log",
                    "scheduler-0.log"]


@pytest.mark.parametrize("field, kwargs", [("agents", {"agents": 0}), ("runtime", {"runtime": "vm"}),
                                           ("schedulers", {"schedulers": 9}), ("port", {"port": 80})])
def test_bad_options_name_the_field(field, kwargs):
    with pytest.raises(ValidationError) as err:
        PlaneSpec(**kwargs)
    assert err.value.field == field
