"""The official `kubernetes` Python client against the API server over a real socket, as `berth up` runs it
(its own process, TLS, authentication, RBAC); the client is configured from the administrator's kubeconfig
(`kubernetes.config.load_kube_config`: the CA and the client certificate embedded).

Timeline: create pods and a deployment, list them, patch them, watch them (from a resourceVersion), resume a
watch from the resourceVersion of an event it already saw, hit a stale-resourceVersion conflict, delete.
"""

from __future__ import annotations

import threading

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException

from tests.apiserver.secured import api_server


@pytest.fixture
def api():
    with api_server() as cluster:
        config = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=config)
        assert config.host == cluster.url and config.host.startswith("https://")
        with k8s.ApiClient(config) as api_client:
            yield k8s.CoreV1Api(api_client), k8s.AppsV1Api(api_client)


def make_pod(name: str) -> k8s.V1Pod:
    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name, labels={"app": "py"}),
                     spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="main", image="busybox:1.36",
                                                                    command=["sleep", "60"])]))


def make_deployment(name: str, replicas: int) -> k8s.V1Deployment:
    labels = {"app": name}
    template = k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels),
                                     spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="main", image="busybox")]))
    return k8s.V1Deployment(metadata=k8s.V1ObjectMeta(name=name),
                            spec=k8s.V1DeploymentSpec(replicas=replicas, template=template,
                                                      selector=k8s.V1LabelSelector(match_labels=labels)))


def collect(func, *args, count: int, **kwargs) -> list[tuple[str, str, str]]:
    """Watch in a thread until `count` events arrived (or the server's timeout ended the stream)."""
    events: list[tuple[str, str, str]] = []
    w = k8s_watch.Watch()
    for event in w.stream(func, *args, timeout_seconds=5, **kwargs):
        obj = event["object"]
        events.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
        if len(events) >= count:
            w.stop()
    return events


def test_pods_create_list_patch_watch_resume_delete(api):
    core, _ = api
    created = core.create_namespaced_pod("default", make_pod("a"))
    assert created.metadata.uid and created.spec.scheduler_name == "default-scheduler"
    start_rv = core.list_namespaced_pod("default").metadata.resource_version
    result: list = []
    watcher = threading.Thread(target=lambda: result.extend(
        collect(core.list_namespaced_pod, "default", count=4, resource_version=start_rv)))
    watcher.start()
    core.create_namespaced_pod("default", make_pod("b"))
    patched = core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"step": "2"}}})
    assert patched.metadata.labels == {"app": "py", "step": "2"}
    core.patch_namespaced_pod("b", "default", {"metadata": {"labels": {"step": "3"}}})
    core.delete_namespaced_pod("a", "default")
    watcher.join(15)
    assert [(t, n) for t, n, _ in result] == [("ADDED", "b"), ("MODIFIED", "a"), ("MODIFIED", "b"), ("DELETED", "a")]
    listed = core.list_namespaced_pod("default", label_selector="app=py")
    assert [p.metadata.name for p in listed.items] == ["b"]
    # Resume from the resourceVersion of the second event: only the later two come again.
    resumed = collect(core.list_namespaced_pod, "default", count=2, resource_version=result[1][2])
    assert resumed == result[2:]


def test_stale_replace_is_a_409_api_exception(api):
    core, _ = api
    pod = core.create_namespaced_pod("default", make_pod("c"))
    core.patch_namespaced_pod("c", "default", {"metadata": {"labels": {"v": "1"}}})
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_pod("c", "default", pod)
    assert err.value.status == 409


def test_deployments_create_list_patch_watch_delete(api):
    _, apps = api
    apps.create_namespaced_deployment("default", make_deployment("web", 3))
    rv = apps.list_namespaced_deployment("default").metadata.resource_version
    result: list = []
    watcher = threading.Thread(target=lambda: result.extend(
        collect(apps.list_namespaced_deployment, "default", count=2, resource_version=rv)))
    watcher.start()
    scaled = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
    assert scaled.spec.replicas == 5
    apps.delete_namespaced_deployment("web", "default")
    watcher.join(15)
    assert [(t, n) for t, n, _ in result] == [("MODIFIED", "web"), ("DELETED", "web")]
    assert apps.list_namespaced_deployment("default").items == []


def test_python_client_sees_404_as_api_exception(api):
    core, _ = api
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("missing", "default")
    assert err.value.status == 404
