"""The Events a node agent records about its pods, worded as the kubelet's (`kubectl describe pod`).

`container_events(pod, ctr, before, after)` compares what the agent saw of one container's unit at the
previous look (`before`) and now (`after`) and returns the Events for what happened in between, as
(type, reason, message): Pulling / Pulled while the runtime fetches the image, Failed (`Failed to pull
image ...`, `Error: ErrImagePull`, `Error: ImagePullBackOff`) and BackOff on failed pulls, Created and
Started at each run, BackOff between crashed runs, Failed when a container cannot start.
`killing(ctr)` is the Event of a stop the agent asks for.  Pure; `node.NodeAgent` calls it, and
`eventwriter.EventWriter` sends the Events through the node's own client.
"""

from __future__ import annotations

from berth.runtime import UnitState, UnitStatus

NORMAL, WARNING = "Normal", "Warning"
PULL_REASONS = frozenset({"ContainerCreating", "ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


def _reason(unit: UnitStatus | None) -> str | None:
    return unit.reason if unit is not None else None


def _pull_events(image: str, before: UnitStatus | None, after: UnitStatus) -> list[tuple[str, str, str]]:
    """What the image's pull did between the two looks (the runtime says so through its reasons)."""
    if after.state is not UnitState.WAITING or after.reason == _reason(before):
        return []
    if after.reason == "ContainerCreating" and after.exit_code is None:
        return [(NORMAL, "Pulling", f'Pulling image "{image}"')]
    if after.reason == "ErrImagePull":
        detail = f": {after.message}" if after.message else ""
        return [(WARNING, "Failed", f'Failed to pull image "{image}"{detail}'), (WARNING, "Failed", "Error: ErrImagePull")]
    if after.reason == "InvalidImageName":
        return [(WARNING, "InspectFailed", f'Failed to apply default image tag "{image}": {after.message}'),
                (WARNING, "Failed", "Error: InvalidImageName")]
    if after.reason == "ImagePullBackOff":
        return [(NORMAL, "BackOff", f'Back-off pulling image "{image}"'), (WARNING, "Failed", "Error: ImagePullBackOff")]
    return []


def _run_events(pod: dict, ctr: dict, before: UnitStatus | None, after: UnitStatus) -> list[tuple[str, str, str]]:
    name, out = ctr["name"], []
    if after.started_at is not None and (before is None or before.started_at != after.started_at):
        if _reason(before) in PULL_REASONS and after.restarts == 0:
            out.append((NORMAL, "Pulled", f'Successfully pulled image "{ctr.get("image", "")}"'))
        out += [(NORMAL, "Created", f"Created container: {name}"), (NORMAL, "Started", f"Started container {name}")]
    between = after.state is UnitState.WAITING and after.exit_code is not None and after.reason not in PULL_REASONS
    if between and not (before is not None and before.state is UnitState.WAITING and before.restarts == after.restarts):
        meta = pod["metadata"]
        out.append((WARNING, "BackOff", f"Back-off restarting failed container {name} in pod "
                                        f"{meta['name']}_{meta.get('namespace', 'default')}({meta.get('uid', '')})"))
    if after.state is UnitState.FAILED and after.started_at is None and (before is None or before.state != after.state):
        out.append((WARNING, "Failed", f"Error: {after.message or 'the container could not start'}"))
    return out


def container_events(pod: dict, ctr: dict, before: UnitStatus | None,
                     after: UnitStatus | None) -> list[tuple[str, str, str]]:
    """The Events of one container between two looks at its unit (None: not made yet)."""
    if after is None or after == before:
        return []
    return _pull_events(ctr.get("image", ""), before, after) + _run_events(pod, ctr, before, after)


def killing(ctr: str) -> tuple[str, str, str]:
    return (NORMAL, "Killing", f"Stopping container {ctr}")


def config_error(message: str) -> tuple[str, str, str]:
    return (WARNING, "Failed", f"Error: {message}")
