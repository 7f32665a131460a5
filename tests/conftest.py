"""Shared fixtures: small clusters built from the model, and the trace data folder."""

from __future__ import annotations

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
        pytest.skip("trace data (../shared/data) is not present")
