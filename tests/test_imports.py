"""The declarative plane's clients load without the API server: importing the scheduler, the client or
the controllers must not bring in Starlette (checked in a fresh interpreter, since this test process may
already hold the server's modules).  The node agent is left out: it serves its pods' logs over HTTP."""

import subprocess
import sys

import pytest

CLIENTS = ["berth.declarative.scheduler", "berth.declarative.client", "berth.declarative.controllers"]


@pytest.mark.parametrize("module", CLIENTS)
def test_a_client_of_the_api_server_does_not_load_starlette(module):
    code = f"import {module}; import sys; print('starlette' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
