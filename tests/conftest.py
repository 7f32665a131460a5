"""Shared fixtures: small clusters built from the model, the trace data folder, and the system programs
the tests drive (a missing one fails the tests that need it; it never skips them)."""

from __future__ import annotations

import shutil

import pytest

from berth.model import Node, Resources, Workload


def node(name: str, cpu: int = 4000, memory: int = 8192, gpus: int = 0, model: str = "", **kw) -> Node:
    """A node with round defaults; keyword arguments pass through to `Node`."""
    return Node(name, Resources.of(cpu=cpu, memory=memory), gpus=gpus, gpu_model=model, **kw)


def pod(name: str, cpu: int = 100, memory: int = 128, gpu: int = 0, **kw) -> Workload:
    """A workload with small defaults; `gpu` is total milli-GPU."""
    return Workload(name, Resources.of(cpu=cpu, memory=memory, gpu=gpu), **kw)


@pytest.fixture(scope="session")
def data_dir():
    from berth.sim.trace import find_data_dir

    try:
        return find_data_dir()
    except FileNotFoundError:
        pytest.fail("the trace data is a test dependency and was not found: put the shared data folder "
                    "beside the repository (../shared/data) or name it in BERTH_DATA", pytrace=False)


def require_program(name: str, where: str) -> str:
    """The path of system program `name`, a test dependency; fail the calling test if it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is a test dependency and is not on PATH: {where}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def kubectl_path() -> str:
    """The real kubectl (on this machine kind's standard image; CI machines have it)."""
    return require_program("kubectl", "install kubectl 1.32 or newer")
