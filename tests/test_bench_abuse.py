"""`berth bench abuse` at a tiny scale: the hostile clients run and the normal client is served."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from berth.cli.main import app
from berth.sim.abuse import Load, Target, bench_abuse, start_target, url_target

TINY = Load(duration=3, half_open=200, slowloris=5, big_bodies=1, body_mb=4, processes=2, drip=0.5)


def test_normal_client_is_served_while_the_api_server_is_pressed():
    target = start_target("apiserver")
    try:
        result = bench_abuse(target, TINY).to_dict()
    finally:
        target.stop()
    assert result["requests"] >= 20 and result["errors"] == 0, result
    assert result["p99_ms"] < 1000, result
    assert result["server_peak_rss_mib"] and result["server_peak_fds"], result
    half_open = result["clients"]["half_open"]
    assert half_open["opened"] + half_open["refused"] == 200, result
    assert result["clients"]["slowloris"]["opened"] == 5
    assert sum(result["clients"]["big_body"]["answers"].values()) >= 1, result
    json.dumps(result)


def test_only_loopback_servers_are_pressed():
    with pytest.raises(ValueError, match="loopback"):
        Target("apiserver", "https://192.0.2.1:6443")
    with pytest.raises(ValueError, match="loopback"):
        url_target("placement", "http://example.com:8778")


def test_cli_help_explains_and_refuses_an_unknown_target():
    runner = CliRunner()
    out = runner.invoke(app, ["bench", "abuse", "--help"], terminal_width=200)
    assert out.exit_code == 0 and "half-open" in out.output and "slowloris" in out.output
    assert runner.invoke(app, ["bench", "abuse", "--target", "mainframe"]).exit_code != 0
