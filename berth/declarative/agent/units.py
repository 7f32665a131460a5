"""A pod's containers as runtime units: what a `NodeAgent` asks its runtime to run.

`unit_specs(pod, volumes)` makes one `UnitSpec` per container: the container's `image`; its argv as
the kubelet combines `command` and `args` with the image (see `argv`); env values and the downward
API fields the agent knows; `workingDir`; the pod's restartPolicy; `group` = the pod (its containers
share one network namespace and address); `resources` from the container's requests and limits
(a limit without a request requests the limit, as the API server defaults it); `mounts` from its
`volumeMounts` of `emptyDir` volumes (a per-pod directory under `volumes`, made here and removed
with the pod by `remove_pod_dir`) and `hostPath` volumes.  The process runtime runs no image:
`command_missing` names the containers it cannot run.  Called by `node.NodeAgent`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from berth.declarative.quantity import QuantityError, milli, parse_quantity
from berth.runtime import Mount, RestartPolicy, UnitResources, UnitSpec

RESTART = {"Always": RestartPolicy.ALWAYS, "OnFailure": RestartPolicy.ON_FAILURE, "Never": RestartPolicy.NEVER}
FAKE_OPTION = "berth.dev/fake-"
"""Pod annotations `berth.dev/fake-exit-after` etc. become fake-runtime unit options."""
COMMAND_ONLY = frozenset({"process"})
"""Runtimes that run a container's command on the host and have no image to take an entry point from."""
CREATE_ON_DEMAND = {"DirectoryOrCreate": "dir", "FileOrCreate": "file"}
"""hostPath types whose path the agent makes when missing, as the kubelet."""


def unit_name(pod: dict, container: str) -> str:
    meta = pod["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}/{container}"


def pod_group(pod: dict) -> str:
    """The pod as a unit group: namespace/name/uid (a new pod of the same name is a new group)."""
    meta = pod["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}/{meta.get('uid', '')}"


def argv(ctr: dict) -> tuple[str, ...]:
    """The unit's argv: `command` (which replaces the image's entry point) then `args` (which replace its
    default arguments); with `args` alone, the args (run by the image's entry point); neither: () (the
    image's own entry point and arguments)."""
    return tuple(ctr.get("command") or ()) + tuple(ctr.get("args") or ())


def command_missing(ctr: dict, runtime: str) -> str | None:
    """Why `runtime` cannot run the container (a message), or None when it can."""
    if runtime in COMMAND_ONLY and not ctr.get("command"):
        return (f"the {runtime} runtime runs a container's command and cannot run image "
                f"{ctr.get('image', '')!r}: give the container a command, or run the cluster with "
                "--runtime container")
    return None


def _env(pod: dict, ctr: dict) -> dict[str, str]:
    meta = pod["metadata"]
    fields = {"metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", "default"),
              "metadata.uid": meta.get("uid", ""), "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
              "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}
    env = {}
    for var in ctr.get("env") or []:
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            path = ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            if path in fields:
                env[var["name"]] = fields[path]
    return env


def _amount(text, convert) -> int | None:
    if text is None:
        return None
    try:
        return convert(str(text))
    except QuantityError:
        return None  # the API server validated it; an old object is run without the bound


def _bytes(text: str) -> int:
    return int(parse_quantity(text).to_integral_value(rounding="ROUND_CEILING"))


def resources(ctr: dict) -> UnitResources:
    spec = ctr.get("resources") or {}
    requests, limits = spec.get("requests") or {}, spec.get("limits") or {}
    return UnitResources(
        cpu_request_millis=_amount(requests.get("cpu", limits.get("cpu")), milli),
        cpu_limit_millis=_amount(limits.get("cpu"), milli),
        memory_request_bytes=_amount(requests.get("memory", limits.get("memory")), _bytes),
        memory_limit_bytes=_amount(limits.get("memory"), _bytes))


def pod_dir(pod: dict, root: Path) -> Path:
    """The pod's own directory under `root` (its emptyDir volumes live in it)."""
    meta = pod["metadata"]
    return root / f"{meta.get('namespace', 'default')}_{meta['name']}_{meta.get('uid', '')}"


def _source(volume: dict, pod: dict, root: Path | None) -> str | None:
    """The host path behind a volume (made when it must be), or None for a kind not served here."""
    if "emptyDir" in volume and root is not None:
        path = pod_dir(pod, root) / "volumes" / volume["name"]
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o777)  # any user of the image writes to it, as the kubelet's emptyDir
        return str(path)
    host = volume.get("hostPath")
    if host and host.get("path"):
        path, kind = Path(host["path"]), CREATE_ON_DEMAND.get(host.get("type") or "")
        if kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "file" and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        return str(path)
    return None


def mounts(pod: dict, ctr: dict, root: Path | None) -> tuple[Mount, ...]:
    volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
    out = []
    for mount in ctr.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name"))
        source = _source(volume, pod, root) if volume else None
        sub = PurePosixPath(mount.get("subPath") or ".")
        if source is None or sub.is_absolute() or ".." in sub.parts:
            continue
        out.append(Mount(os.path.normpath(os.path.join(source, sub)), mount["mountPath"],
                         bool(mount.get("readOnly"))))
    return tuple(out)


def remove_pod_dir(pod: dict, root: Path | None) -> None:
    """Remove the pod's directory (its emptyDir volumes); hostPath volumes stay."""
    if root is not None:
        shutil.rmtree(pod_dir(pod, root), ignore_errors=True)


def unit_specs(pod: dict, volumes: Path | None = None) -> list[UnitSpec]:
    """One unit per container, in spec order; emptyDir volumes are made under `volumes` (None: not served)."""
    spec = pod.get("spec") or {}
    restart = RESTART.get(spec.get("restartPolicy", "Always"), RestartPolicy.ALWAYS)
    options = {k[len(FAKE_OPTION):]: str(v) for k, v in (pod["metadata"].get("annotations") or {}).items()
               if k.startswith(FAKE_OPTION)}
    return [UnitSpec(unit_name(pod, ctr["name"]), argv(ctr), env=_env(pod, ctr), workdir=ctr.get("workingDir"),
                     restart=restart, options=options, image=ctr.get("image", ""), group=pod_group(pod),
                     resources=resources(ctr), mounts=mounts(pod, ctr, volumes))
            for ctr in spec.get("containers") or []]
