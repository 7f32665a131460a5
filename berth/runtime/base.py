"""The `Runtime` contract: how a control plane runs units of work on one machine.

A *unit* is one command that should run: a Kubernetes container, a Nova server's process, a
simulated task.  The contract is plane-neutral (no Kubernetes or OpenStack types): a `UnitSpec`
says what to run and how to react to exits, a `UnitStatus` says what is happening.  Runtimes are
registered by name in `RUNTIMES` (see `berth.runtime`); the node agents of both planes, the
simulator and the benchmarks call them.  Runtimes never block for long and never start threads
of their own: the caller drives them by calling `sync()` regularly, with the runtime's clock
(a `ManualClock` in tests) deciding when grace periods and back-offs expire.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class RestartPolicy(str, enum.Enum):
    """What to do when a unit's command exits."""

    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"

    def restarts(self, exit_code: int) -> bool:
        """True when an exit with `exit_code` should start the command again."""
        return self is RestartPolicy.ALWAYS or (self is RestartPolicy.ON_FAILURE and exit_code != 0)


class UnitState(str, enum.Enum):
    """Where a unit is in its life.

    WAITING: not running now, will be (a restart back-off); RUNNING; SUCCEEDED / FAILED: exited
    for good (exit code 0 / non-zero, policy says no restart); STOPPING: asked to stop, within
    its grace period; STOPPED: stopped on request (terminal).
    """

    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"

    @property
    def terminal(self) -> bool:
        return self in (UnitState.SUCCEEDED, UnitState.FAILED, UnitState.STOPPED)


@dataclass(frozen=True)
class UnitResources:
    """What a unit may use.  Requests weigh it against others under contention; limits are enforced
    (a unit over its memory limit is killed and reported with reason `OOMKilled`, exit code 137).
    None: no request or no limit."""

    cpu_request_millis: int | None = None
    cpu_limit_millis: int | None = None
    memory_request_bytes: int | None = None
    memory_limit_bytes: int | None = None


@dataclass(frozen=True)
class Mount:
    """A host directory (`source`) seen by the unit at `target` (emptyDir and hostPath volumes, a
    projected token's directory)."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class UnitSpec:
    """What to run.  `name` is the caller's key, unique within one runtime (e.g. `ns/pod/ctr`).

    `command` is the argv (program first; empty: the image's own entry point); `env` is added to a
    minimal environment; `workdir` is the working directory (None: the runtime's own).  `image` is
    what a runtime that runs images runs it from (a container image reference, a VM image name; the
    process runtime ignores it).  `group` names the units that share one network namespace and one
    address (a pod's containers; '' for a unit of its own).  `resources` and `mounts` as their
    types say.  `options` carries runtime-specific knobs as strings, e.g. the fake runtime's
    `exit-after` and `exit-code`.
    """

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    restart: RestartPolicy = RestartPolicy.ALWAYS
    options: Mapping[str, str] = field(default_factory=dict)
    image: str = ""
    group: str = ""
    resources: UnitResources = field(default_factory=UnitResources)
    mounts: tuple[Mount, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a unit needs a name")
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "restart", RestartPolicy(self.restart))


@dataclass(frozen=True)
class UnitStatus:
    """What a unit is doing.  Times are the runtime clock's seconds; None when not yet known."""

    name: str
    state: UnitState
    restarts: int = 0
    exit_code: int | None = None
    """The last exit code (of this run if terminal, of the previous run while WAITING)."""
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    message: str = ""
    reason: str = ""
    """Why it is in its state, in the kubelet's words where it has them: while WAITING
    `ContainerCreating`, `ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`; when terminal
    `Completed`, `Error`, `OOMKilled`; '' when the runtime has nothing to add."""
    ip: str | None = None
    """The unit's (its group's) address when it has one of its own; None when it shares the host's."""
    last_reason: str = ""
    """The previous run's terminal reason (`OOMKilled`, `Error`, `Completed`) once the unit has restarted or
    waits to: the kubelet's `lastState.terminated.reason`; '' before any restart."""


@dataclass(frozen=True)
class Usage:
    """What a unit has used: CPU seconds since it started, and memory now, in bytes."""

    cpu_seconds: float
    memory_bytes: int


@dataclass(frozen=True)
class ExecResult:
    """A command run inside a unit: its exit code and its combined output."""

    exit_code: int
    output: bytes


@runtime_checkable
class Runtime(Protocol):
    """Runs units on this machine.  Every method returns promptly (no waiting on processes).

    - `start(spec)` begins running a new unit and returns its status (RUNNING, or FAILED with a
      message if the command cannot be started, e.g. the program does not exist).  Starting a
      name that is already known raises `ValueError` (a caller bug).
    - `sync()` observes the world: reaps exits, applies the restart policy (a restart happens
      after a back-off doubling from `backoff` to `max_backoff` seconds, counted in `restarts`),
      escalates stops whose grace period has passed (SIGTERM first, SIGKILL after), and returns
      the statuses that changed since the previous `sync()`, in no particular order.  Callers
      call it every few hundred milliseconds, or after advancing a virtual clock.
    - `stop(name, grace)` asks the unit to end: it enters STOPPING (or STOPPED at once if it was
      not running) and reaches STOPPED within `grace` seconds plus one `sync()`.  Unknown names
      are ignored; stopping twice keeps the earlier deadline.
    - `remove(name)` forgets a terminal unit and its logs; a live unit is stopped with no grace.
    - `status(name)` is the current status, or None for an unknown name.
    - `names()` lists the known units.
    - `logs(name, tail=None, previous=False)` returns the unit's combined stdout/stderr (the
      current run, or the previous run's with `previous`), the last `tail` lines if given;
      unknown units give `None`.
    - `exec(name, argv, timeout)` runs `argv` inside a running unit (its namespaces, its
      filesystem) and waits for it, at most `timeout` seconds; None for an unknown or stopped unit.
    - `usage(name)` is what the unit has used (from its cgroup where it has one); None when unknown.
    - `close()` stops every unit with no grace and releases resources.
    """

    name: str

    def start(self, spec: UnitSpec) -> UnitStatus: ...

    def sync(self) -> list[UnitStatus]: ...

    def stop(self, name: str, grace: float) -> None: ...

    def remove(self, name: str) -> None: ...

    def status(self, name: str) -> UnitStatus | None: ...

    def names(self) -> list[str]: ...

    def logs(self, name: str, tail: int | None = None, previous: bool = False) -> bytes | None: ...

    def exec(self, name: str, argv: tuple[str, ...], timeout: float = 30.0) -> ExecResult | None: ...

    def usage(self, name: str) -> Usage | None: ...

    def close(self) -> None: ...


def backoff_delay(restarts: int, base: float, cap: float) -> float:
    """The wait before restart number `restarts + 1`: base * 2**restarts, at most `cap`."""
    return min(cap, base * (2 ** min(restarts, 30)))


def tail_lines(data: bytes, tail: int | None) -> bytes:
    """The last `tail` lines of `data` (all of it when `tail` is None or negative)."""
    if tail is None or tail < 0:
        return data
    if tail == 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-tail:])
