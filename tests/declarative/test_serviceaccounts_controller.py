"""The ServiceAccounts controller: a `default` ServiceAccount in every live namespace, recreated when deleted."""

from __future__ import annotations

import waiting

from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.authn import trust_every_caller_as_admin
from berth.declarative.client import ApiError, KubeClient
from berth.declarative.controllers.actions import Create
from berth.declarative.controllers.manager import ControllerManager
from berth.declarative.controllers.serviceaccounts import reconcile_namespace
from berth.store import MemoryStore
from tests.apiserver.conftest import serving


def namespace(name: str, **meta) -> dict:
    return {"metadata": {"name": name, **meta}, "status": {"phase": "Active"}}


def test_a_namespace_without_default_gets_one():
    assert reconcile_namespace(namespace("team"), set()) == [
        Create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
               "team")]


def test_nothing_to_do_when_present_gone_or_terminating():
    assert reconcile_namespace(namespace("team"), {"default"}) == []
    assert reconcile_namespace(None, set()) == []
    assert reconcile_namespace(namespace("team", deletionTimestamp="2026-01-01T00:00:00Z"), set()) == []
    assert reconcile_namespace({"metadata": {"name": "t"}, "status": {"phase": "Terminating"}}, set()) == []


def test_manager_creates_and_recreates_default_accounts():
    """Over a socket: every namespace gets `default`, a new one too, and a deleted `default` comes back."""
    def default_uid(ns: str):
        try:
            return client.get("serviceaccounts", "default", ns)["metadata"]["uid"]
        except ApiError:
            return None

    with serving(create_app(MemoryStore(), access=trust_every_caller_as_admin())) as url:
        client, manager = KubeClient(url), ControllerManager(url, tick=0.2).start()
        try:
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                waiting.eventually(lambda: default_uid(ns), 10)
            client.create("namespaces", {"metadata": {"name": "team"}})
            first = waiting.eventually(lambda: default_uid("team"), 10)
            client.delete("serviceaccounts", "default", "team")
            waiting.eventually(lambda: default_uid("team") not in (None, first), 10)
        finally:
            manager.stop()
            client.close()
