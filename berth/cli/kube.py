"""`berth kube ...`: credentials for the local declarative cluster that `berth up` runs.

`berth kube user NAME --group G [--group G2]` signs a client certificate (CN = NAME, O = each group) with the
cluster's CA in `--state-dir` and writes a kubeconfig (mode 0600) holding it, for the API server named in
the administrator's kubeconfig there; it prints the file's path and how to try it, never the key.  What the
user may do is then RBAC's business: bind a Role or ClusterRole to the user or a group (`kubectl create
rolebinding ... --clusterrole=view --user=NAME`).  The signing lives in `berth.launch.pki`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from berth.model import ValidationError

app = typer.Typer(help="Credentials for the local declarative cluster (`berth up`).", no_args_is_help=True)
NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._@:-]{0,251}[A-Za-z0-9])?")
"""A user or group name: letters, digits and . _ @ : - inside, up to 253 characters."""


def _checked(field: str, value: str) -> str:
    if not NAME.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not a usable name (letters, digits and . _ @ : - inside, "
                                     "up to 253 characters)")
    return value


def _server(state_dir: Path) -> str:
    """The API server's URL from the administrator's kubeconfig in `state_dir`."""
    from berth.declarative.client import Credentials

    admin = state_dir / "kubeconfig"
    if not admin.is_file():
        raise ValidationError("--state-dir", f"no kubeconfig in {state_dir} (start the cluster with "
                                             f"`berth up --state-dir {state_dir}` first)")
    server = Credentials.from_kubeconfig(admin).server or ""
    if not server.startswith("https://"):
        raise ValidationError("--state-dir", f"the cluster in {state_dir} serves plain HTTP (--insecure): a "
                                             "client certificate needs TLS")
    return server


@app.command("user")
def user(
    name: str = typer.Argument(..., help="The user name (the certificate's CN)."),
    group: list[str] = typer.Option([], "--group", "-g", help="A group of the user (an O of the certificate)."),
    state_dir: Path = typer.Option(Path(".berth"), "--state-dir", help="The cluster's state directory."),
    out: Path = typer.Option(None, "--out", help="Where to write the kubeconfig (default: STATE/users/NAME.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts (the path, never the key)."),
) -> None:
    """Sign a client certificate for NAME with the cluster's CA and write a kubeconfig for it."""
    from berth.launch.pki import ClusterPKI, user_kubeconfig

    groups = tuple(_checked("--group", g) for g in group)
    _checked("NAME", name)
    if not ClusterPKI(state_dir).exists():
        raise ValidationError("--state-dir", f"no cluster CA in {state_dir / 'pki'} (start the cluster with "
                                             f"`berth up --state-dir {state_dir}` first)")
    server = _server(state_dir)
    path = out or state_dir / "users" / f"{name.replace(':', '_')}.yaml"
    user_kubeconfig(state_dir, name, groups, server, path)
    if as_json:
        typer.echo(json.dumps({"kubeconfig": str(path.resolve()), "user": name, "groups": list(groups),
                               "server": server}, indent=2))
        return
    typer.echo(f"kubeconfig for {name} ({', '.join(groups) or 'no groups'}): {path.resolve()}")
    typer.echo(f"  KUBECONFIG={path.resolve()} kubectl auth whoami")
