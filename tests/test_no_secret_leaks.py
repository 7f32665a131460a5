"""No secret leaks: after a full `berth up --demo` of the declarative plane, no token or private key the run
generated appears in its output or in any file of its state directory but the secrets themselves.

The secrets are read back from the state directory: every PEM private key under pki/, every token of
tokens.csv, and what the kubeconfigs embed (client keys, tokens).  Each is looked for as it is written and,
for keys, as its base64 lines and as the base64 of the whole PEM (how a kubeconfig embeds one); a key line
that a certificate also holds is public (the key's public point) and is not looked for.
"""

from __future__ import annotations

import base64
import csv
import os
import subprocess
import sys
from pathlib import Path

import yaml

SECRET_FILES = ("tokens.csv", "kubeconfig")
"""State-dir files that are themselves secrets (besides *.key and kubeconfigs/), and so are not scanned."""


def is_secret_file(path: Path, home: Path) -> bool:
    rel = path.relative_to(home)
    return path.suffix == ".key" or rel.parts[0] == "kubeconfigs" or str(rel) in SECRET_FILES


def key_needles(pem: str) -> set[str]:
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    needles = {line for line in body if len(line) >= 40}
    needles.add(base64.b64encode(pem.encode()).decode()[:60])
    needles.add("".join(body)[:60])
    return needles


def secrets_of(home: Path) -> set[str]:
    found: set[str] = set()
    for key in home.rglob("*.key"):
        found |= key_needles(key.read_text())
    with open(home / "tokens.csv", newline="") as rows:
        found |= {row[0] for row in csv.reader(rows) if row and len(row[0]) >= 16}
    for config in [home / "kubeconfig", *(home / "kubeconfigs").glob("*")]:
        for user in (yaml.safe_load(config.read_text()) or {}).get("users") or []:
            u = user.get("user") or {}
            if u.get("token"):
                found.add(u["token"])
            if u.get("client-key-data"):
                found |= key_needles(base64.b64decode(u["client-key-data"]).decode())
    public = "".join(crt.read_text() for crt in home.rglob("*.crt"))  # a key's public half is in its certificate
    return {s for s in found if len(s) >= 16 and s not in public}


def test_berth_up_demo_leaks_no_token_or_key(tmp_path):
    home = tmp_path / "state"
    argv = ["up", "--nodes", "2", "--port", "0", "--demo", "--state-dir", str(home)]
    done = subprocess.run([sys.executable, "-c", "from berth.cli.main import main; main()", *argv],
                          capture_output=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert b"demo complete" in done.stdout
    needles = secrets_of(home)
    assert len(needles) >= 10, "the run made fewer credentials than expected"
    scanned = {"stdout": done.stdout, "stderr": done.stderr}
    scanned |= {str(p): p.read_bytes() for p in home.rglob("*") if p.is_file() and not is_secret_file(p, home)}
    assert any(name.endswith(".log") for name in scanned), sorted(scanned)
    leaks = [(name, needle[:8] + "...") for name, data in scanned.items() for needle in needles
             if needle.encode() in data]
    assert not leaks, f"secrets found outside their files: {leaks}"
    for key in home.rglob("*.key"):
        assert key.stat().st_mode & 0o777 == 0o600, key
