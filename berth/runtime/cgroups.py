"""Control groups for the process runtime's units: their limits enforced, their usage and OOM kills read.

`Hierarchy.detect(runtime_id)` finds the machine's cgroups: v1 (one mount per controller: memory,
cpu, cpuacct, pids; possibly co-mounted as `cpu,cpuacct`) or v2 (the unified mount with the memory,
cpu and pids controllers).  Each unit gets a cgroup of its own at
`<this process's cgroup>/berth/<runtime id>/<unit>` in every hierarchy, nested under the cgroup
the runtime itself runs in so whatever limits and accounts for the runtime also covers its units.
`UnitCgroup` sets the limits (v1 `memory.limit_in_bytes`, `cpu.cfs_quota_us`/`cpu.cfs_period_us`,
`cpu.shares`, `pids.max`; v2 `memory.max`, `cpu.max`, `cpu.weight`, `pids.max`), counts OOM kills
(v1 `memory.oom_control`'s `oom_kill`, v2 `memory.events`), reads usage (v1 `cpuacct.usage` and
`memory.usage_in_bytes`, v2 `cpu.stat` and `memory.current`, less inactive page cache), kills what
is left in it and removes it.

A process joins its cgroups before it runs a single instruction of the unit's program: the
runtime starts `JOIN_SCRIPT` under /bin/sh, which writes its own pid into each `cgroup.procs`
and then execs the program (same pid).  Writing the pid from the parent after the spawn would
leave a window in which the program runs, allocates and forks outside its limits, and
`preexec_fn` is unsafe in a process with threads; `clone3(CLONE_INTO_CGROUP)` exists for v2 only.

`detect` returns None where the machine allows no cgroups (not root, a controller missing, a v2
cgroup whose controllers cannot be delegated because it holds processes): units then run
without limits, as plain subprocesses, and the process runtime reads usage from /proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from berth.runtime.base import UnitResources, Usage

JOIN_SCRIPT = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'
"""`sh -c JOIN_SCRIPT berth-join <n> <n cgroup.procs files> <program> <args>...`; exit 125 if a join fails."""
CFS_PERIOD_US = 100_000
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class Version:
    """Where one cgroup version keeps what a unit needs: (controller, file[, key]); '' is v2's one tree."""

    number: int
    oom: tuple[str, str, str]
    cpu: tuple[str, str, str]
    cpu_scale: float
    """Seconds per unit of the CPU counter."""
    memory: tuple[str, str]
    memory_stat: tuple[str, str, str]


V1 = Version(1, ("memory", "memory.oom_control", "oom_kill"), ("cpuacct", "cpuacct.usage", ""), 1e-9,
             ("memory", "memory.usage_in_bytes"), ("memory", "memory.stat", "total_inactive_file"))
V2 = Version(2, ("", "memory.events", "oom_kill"), ("", "cpu.stat", "usage_usec"), 1e-6,
             ("", "memory.current"), ("", "memory.stat", "inactive_file"))


def limits(version: Version, res: UnitResources, pids_limit: int | None) -> list[tuple[str, str, str, bool]]:
    """(controller, file, value, required) to write for `res`; optional files may be absent (swap)."""
    shares_from = res.cpu_request_millis or res.cpu_limit_millis
    quota = max(1000, res.cpu_limit_millis * CFS_PERIOD_US // 1000) if res.cpu_limit_millis else None
    shares = max(2, shares_from * 1024 // 1000) if shares_from else None
    mem = res.memory_limit_bytes
    if version is V1:
        rows = [("memory", "memory.limit_in_bytes", mem, True), ("memory", "memory.memsw.limit_in_bytes", mem, False),
                ("cpu", "cpu.cfs_period_us", quota and CFS_PERIOD_US, True), ("cpu", "cpu.cfs_quota_us", quota, True),
                ("cpu", "cpu.shares", shares, True), ("pids", "pids.max", pids_limit, True)]
    else:
        weight = shares and 1 + (shares - 2) * 9999 // 262142
        rows = [("", "memory.max", mem, True), ("", "memory.swap.max", mem and 0, False),
                ("", "cpu.max", quota and f"{quota} {CFS_PERIOD_US}", True), ("", "cpu.weight", weight, True),
                ("", "pids.max", pids_limit, True)]
    return [(c, f, str(v), req) for c, f, v, req in rows if v is not None]


class UnitCgroup:
    """One unit's cgroup: a directory per hierarchy (controller -> path; v1 co-mounts share one)."""

    def __init__(self, version: Version, dirs: dict[str, Path]) -> None:
        self.version, self.dirs = version, dirs
        self._cpu_base = 0.0

    @property
    def procs_files(self) -> list[str]:
        """The `cgroup.procs` files a process writes its pid to, to join."""
        return [str(d / "cgroup.procs") for d in _unique(self.dirs.values())]

    def join_argv(self, argv: tuple[str, ...]) -> list[str]:
        """`argv` run so that its process joins this cgroup first (see `JOIN_SCRIPT`)."""
        files = self.procs_files
        return ["/bin/sh", "-c", JOIN_SCRIPT, "berth-join", str(len(files)), *files, *argv]

    def apply(self, res: UnitResources, pids_limit: int | None) -> None:
        for controller, name, value, required in limits(self.version, res, pids_limit):
            try:
                (self.dirs[controller] / name).write_text(value)
            except OSError:
                if required:
                    raise

    def oom_kills(self) -> int:
        controller, name, key = self.version.oom
        return int(_keyed(self.dirs[controller] / name).get(key, 0))

    def mark_start(self) -> None:
        """Usage counts CPU from now on (a restart's run starts at zero)."""
        self._cpu_base = self._cpu_total()

    def usage(self) -> Usage:
        controller, name = self.version.memory
        stat_controller, stat_name, inactive = self.version.memory_stat
        try:
            current = int((self.dirs[controller] / name).read_text())
            cache = int(_keyed(self.dirs[stat_controller] / stat_name).get(inactive, 0))
        except (OSError, ValueError):
            current, cache = 0, 0
        return Usage(max(0.0, self._cpu_total() - self._cpu_base), max(0, current - cache))

    def pids(self) -> list[int]:
        path = next(iter(self.dirs.values())) / "cgroup.procs"
        with contextlib.suppress(OSError, ValueError):
            return [int(p) for p in path.read_text().split()]
        return []

    def kill(self) -> None:
        """SIGKILL every process left in the cgroup (a unit's escaped descendants too)."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the directories; False while processes are still leaving (retry later)."""
        self.kill()
        done = True
        for path in _unique(self.dirs.values()):
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done

    def _cpu_total(self) -> float:
        controller, name, key = self.version.cpu
        path = self.dirs[controller] / name
        try:
            raw = _keyed(path).get(key, 0) if key else path.read_text()
            return int(raw) * self.version.cpu_scale
        except (OSError, ValueError):
            return 0.0


class Hierarchy:
    """This runtime's parent cgroup (`<own cgroup>/berth/<runtime id>`) in each hierarchy."""

    def __init__(self, version: Version, dirs: dict[str, Path]) -> None:
        self.version, self.dirs = version, dirs

    @classmethod
    def detect(cls, runtime_id: str, proc: Path = Path("/proc/self")) -> Hierarchy | None:
        """The usable hierarchy with this runtime's directories made, or None (see the module doc)."""
        mounts = _mounts(proc / "mountinfo")
        own = _own_paths(proc / "cgroup")
        for version, controllers in ((V1, V1_CONTROLLERS), (V2, V2_CONTROLLERS)):
            bases = _bases(version, controllers, mounts, own)
            if bases is not None:
                try:
                    return cls._make(version, bases, runtime_id)
                except OSError:
                    cls(version, {c: b / "berth" / runtime_id for c, b in bases.items()}).close()
                    return None
        return None

    @classmethod
    def _make(cls, version: Version, bases: dict[str, Path], runtime_id: str) -> Hierarchy:
        dirs = {c: base / "berth" / runtime_id for c, base in bases.items()}
        for base in _unique(bases.values()):
            if version is V2:
                _enable(base, base / "berth")
            (base / "berth" / runtime_id).mkdir(parents=True, exist_ok=True)
            _clean_stale(base / "berth", runtime_id)
        if version is V2:
            _enable(dirs[""], None)
        return cls(version, dirs)

    def unit(self, key: str, res: UnitResources, pids_limit: int | None = None) -> UnitCgroup:
        """The cgroup of unit `key` (a file-name-safe string), made and limited to `res`."""
        group = UnitCgroup(self.version, {c: d / key for c, d in self.dirs.items()})
        for path in _unique(group.dirs.values()):
            path.mkdir(exist_ok=True)
        group.apply(res, pids_limit)
        return group

    def close(self) -> None:
        """Remove this runtime's directories (units' cgroups must be removed first)."""
        for path in _unique(self.dirs.values()):
            for directory in (path, path.parent):  # `berth` too once no runtime uses it
                with contextlib.suppress(OSError):
                    directory.rmdir()


def remove_soon(groups: list[UnitCgroup], timeout: float = 1.0) -> list[UnitCgroup]:
    """Remove `groups`, retrying briefly while their last processes exit; those still busy."""
    deadline = time.monotonic() + timeout
    while groups:
        groups = [g for g in groups if not g.remove()]
        if not groups or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return groups


def _mounts(mountinfo: Path) -> list[tuple[str, set[str], str, Path]]:
    """(fstype, super options, mount root, mount point) of each cgroup mount."""
    out = []
    for line in _read(mountinfo).splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            out.append((tail[0], set(tail[2].split(",")), fields[3], Path(fields[4])))
    return out


def _own_paths(cgroup_file: Path) -> dict[str, str]:
    """Controller -> this process's cgroup path ('' names the v2 tree)."""
    out = {}
    for line in _read(cgroup_file).splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            out[controller] = path
    return out


def _bases(version: Version, controllers: tuple[str, ...], mounts, own: dict[str, str]) -> dict[str, Path] | None:
    """Controller -> this process's own cgroup directory, when every controller is there and writable."""
    wanted = {"cgroup": controllers} if version is V1 else {"cgroup2": ("",)}
    out = {}
    for fstype, options, root, point in mounts:
        for controller in wanted.get(fstype, ()):
            if (controller in options or controller == "") and controller in own:
                rel = os.path.relpath(own[controller], root)
                if not rel.startswith(".."):
                    out[controller] = point / ("" if rel == "." else rel)
    names = controllers if version is V1 else ("",)
    if set(names) - set(out) or not all(os.access(p, os.W_OK) for p in out.values()):
        return None
    if version is V2 and not set(controllers) <= set(_read(out[""] / "cgroup.controllers").split()):
        return None
    return out


def _enable(parent: Path, child: Path | None) -> None:
    """v2: delegate the controllers to `parent`'s children (fails if `parent` holds processes)."""
    if child is not None:
        child.mkdir(exist_ok=True)
    for path in (parent,) if child is None else (parent, child):
        (path / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in V2_CONTROLLERS))


def _clean_stale(berth: Path, keep: str) -> None:
    """Remove empty cgroups left by runtimes of processes that are gone (`<pid>.<n>` directories)."""
    for entry in berth.iterdir():
        pid = entry.name.split(".", 1)[0]
        if entry.name == keep or not entry.is_dir() or not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        for child in [p for p in entry.iterdir() if p.is_dir()] + [entry]:
            with contextlib.suppress(OSError):
                child.rmdir()


def _keyed(path: Path) -> dict[str, str]:
    """A flat-keyed cgroup file ('key value' lines) as a dict."""
    return dict(line.split(None, 1) for line in path.read_text().splitlines() if " " in line)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _unique(paths) -> list[Path]:
    """Paths with co-mounted hierarchies (the same directory) counted once."""
    seen, out = set(), []
    for path in paths:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out
