"""`prepare`: the credentials every part of a `LocalCluster` runs with, and the API server's flags that check them.

From the cluster's `ClusterPKI` in `home`: the API server serves TLS with its certificate and verifies client
certificates against the CA; the administrator (`berth-admin` in `system:masters`), the scheduler
(`system:kube-scheduler`) and the controllers (`system:kube-controller-manager`) each hold a client
certificate, every node agent a bearer token of its own in `tokens.csv` (`system:node:<name>` in
`system:nodes`), and the API server a token for the agents' log endpoints.  With `insecure` the server speaks
plain HTTP and everyone uses bearer tokens instead (authentication and authorisation still apply).
Kubeconfigs, all 0600: `<home>/kubeconfig` (the administrator's, for kubectl) and
`<home>/kubeconfigs/kube-scheduler.yaml|kube-controller-manager.yaml` (the scheduler's process reads its own).
Called by `LocalCluster.start`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from berth.declarative.client import Credentials
from berth.launch.pki import ADMIN, COMPONENTS, NODES_GROUP, ClusterPKI, node_user, write_kubeconfig

SCHEDULER, CONTROLLERS = "kube-scheduler", "kube-controller-manager"


@dataclass(frozen=True)
class Identities:
    """Who each part of the cluster is, and how the API server checks it."""

    admin: Credentials
    scheduler: Credentials
    controllers: Credentials
    agents: Credentials
    """The agents' host's shared reads (its pod informer): the first node's identity."""
    node_tokens: dict[str, str] = field(repr=False)
    apiserver_flags: list[str] = field(default_factory=list)
    kubeconfig: Path | None = None
    component_kubeconfigs: dict[str, Path] = field(default_factory=dict)
    kubelet_token: str = field(default="", repr=False)
    """What the API server presents to the agents' log endpoints (`--kubelet-token-file`)."""


def prepare(home: Path, url: str, nodes: list[str], *, insecure: bool = False,
            server_names: tuple[str, ...] = ()) -> Identities:
    """Make (or reuse) the PKI and tokens in `home`; write the kubeconfigs for `url`; return the identities."""
    pki = ClusterPKI(home)
    pki.authority()
    people = {"admin": ADMIN, **COMPONENTS}
    users = {node_user(n): (NODES_GROUP,) for n in nodes}
    if insecure:
        users |= {user: groups for user, groups in people.values()}
    tokens = pki.tokens(users)
    creds = {name: _credentials(pki, url, name, people[name], tokens, insecure) for name in people}
    node_tokens = {n: tokens[node_user(n)] for n in nodes}
    first = node_tokens[nodes[0]] if nodes else None
    agents = Credentials(server=url, token=first, **({} if insecure else {"ca_file": str(pki.file("ca.crt"))}))
    paths = {name: home / "kubeconfigs" / f"{name}.yaml" for name in COMPONENTS}
    for name, path in [("admin", home / "kubeconfig"), *paths.items()]:
        _kubeconfig(path, pki, url, name, people[name], tokens, insecure)
    return Identities(creds["admin"], creds[SCHEDULER], creds[CONTROLLERS], agents, node_tokens,
                      apiserver_flags(pki, insecure, server_names), home / "kubeconfig", paths,
                      pki.kubelet_token().read_text().strip())


def apiserver_flags(pki: ClusterPKI, insecure: bool, server_names: tuple[str, ...] = ()) -> list[str]:
    """`python -m berth.declarative.apiserver` flags: TLS (or --insecure) and every way to authenticate."""
    flags = ["--token-auth-file", str(pki.tokens_file),
             "--service-account-key-file", str(pki.service_account_key()),
             "--kubelet-token-file", str(pki.kubelet_token())]
    if insecure:
        return [*flags, "--insecure"]
    cert, key = pki.serving(server_names)
    return [*flags, "--tls-cert-file", str(cert), "--tls-private-key-file", str(key),
            "--client-ca-file", str(pki.file("ca.crt"))]


def _credentials(pki: ClusterPKI, url: str, name: str, identity: tuple, tokens: dict[str, str],
                 insecure: bool) -> Credentials:
    if insecure:
        return Credentials(server=url, token=tokens[identity[0]])
    cert, key = pki.pair(name, *identity)
    return Credentials(server=url, ca_file=str(pki.file("ca.crt")), cert_file=str(cert), key_file=str(key))


def _kubeconfig(path: Path, pki: ClusterPKI, url: str, name: str, identity: tuple, tokens: dict[str, str],
                insecure: bool) -> Path:
    user = "berth-admin" if name == "admin" else name
    if insecure:
        return write_kubeconfig(path, url, None, token=tokens[identity[0]], user=user)
    return write_kubeconfig(path, url, pki.file("ca.crt"), pki.pair(name, *identity), user=user)
