"""Loaders for the Alibaba "openb" GPU trace (`openb_node_list_*.csv`, `openb_pod_list_*.csv`).

`load_nodes` and `load_pods` read one CSV each into model objects.  A malformed row stops the load
with a `TraceError` naming file, line and column, and nothing of that file is returned, so a bad
trace can never be half-used.  `find_data_dir` locates `shared/data` (or `$BERTH_DATA`), and
`pod_trace_path` maps a variant name (`default`, `cpu050`, `gpushare40`, ...) to its file.
Called by the FGD experiment, the benchmarks and the CLI.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from berth.model import GPU_WHOLE, Node, Resources, ValidationError, Workload
from berth.model.workload import gpu_model_selector

TRACE_DIR = "alibaba-gpu-2023"
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
"""Required pod columns; `gpu_spec` is optional (the multigpu variants lack it)."""


class TraceError(ValueError):
    """A trace file is malformed; the message reads `file:line: column: problem`."""

    def __init__(self, path: Path, line: int, column: str, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {column}: {message}" if column else f"{where}: {message}")
        self.path, self.line, self.column = path, line, column


@dataclass(frozen=True)
class TracePod:
    """A pod of the trace: its workload plus the trace's own timing columns."""

    workload: Workload
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...]


def find_data_dir() -> Path:
    """`$BERTH_DATA`, else the first `shared/data` found beside the working tree or the package."""
    env = os.environ.get("BERTH_DATA")
    candidates = [Path(env)] if env else []
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidates += [base / "../shared/data", base / "shared/data"]
    for path in candidates:
        if (path / TRACE_DIR).is_dir():
            return path.resolve()
    raise FileNotFoundError("no trace data: set BERTH_DATA to the folder holding "
                            f"{TRACE_DIR}/ (the repository expects it at ../shared/data)")


def pod_trace_path(name: str, data_dir: Path | None = None) -> Path:
    """The pod list for variant `name` (a bare variant like `cpu050`, or a path to a CSV)."""
    if name.endswith(".csv") or os.sep in name:
        return Path(name)
    folder = (data_dir or find_data_dir()) / TRACE_DIR
    path = folder / f"openb_pod_list_{name}.csv"
    if not path.is_file():
        known = sorted(p.stem.removeprefix("openb_pod_list_") for p in folder.glob("openb_pod_list_*.csv"))
        raise ValidationError("trace", f"unknown trace {name!r}; known: {', '.join(known)}")
    return path


def node_list_path(data_dir: Path | None = None, which: str = "gpu_node") -> Path:
    """The node list file (`gpu_node`: the 1,213 GPU nodes; `all_node`: all 1,523)."""
    return (data_dir or find_data_dir()) / TRACE_DIR / f"openb_node_list_{which}.csv"


def load_nodes(path: Path) -> list[Node]:
    """Every node of a node-list CSV; raises `TraceError` on the first bad row."""
    return list(_rows(path, NODE_COLUMNS, _node))


def load_pods(path: Path) -> list[TracePod]:
    """Every pod of a pod-list CSV; raises `TraceError` on the first bad row."""
    pods = list(_rows(path, POD_COLUMNS, _pod))
    if not pods:
        raise TraceError(path, 0, "", "the trace has no pods")
    return pods


def _rows(path: Path, columns: tuple[str, ...], build: Callable[[dict], object]) -> Iterator:
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as err:
        raise TraceError(path, 0, "", err.strerror or str(err)) from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise TraceError(path, 1, missing[0], "missing column in header")
        for record in reader:
            try:
                yield build(record)
            except ValidationError as err:
                raise TraceError(path, reader.line_num, err.field, err.message) from None


def _int(record: dict, column: str, low: int = 0) -> int:
    text = (record.get(column) or "").strip()
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(column, f"expected an integer, got {text!r}") from None
    if value < low:
        raise ValidationError(column, f"must be at least {low}, got {value}")
    return value


def _node(record: dict) -> Node:
    gpus = _int(record, "gpu")
    model = (record.get("model") or "").strip()
    capacity = Resources.of(cpu=_int(record, "cpu_milli"), memory=_int(record, "memory_mib"))
    try:
        return Node(record["sn"].strip(), capacity, gpus=gpus, gpu_model=model if gpus else "")
    except ValidationError as err:
        raise ValidationError(_COLUMN_OF.get(err.field, err.field), err.message) from None


def _pod(record: dict) -> TracePod:
    num_gpu, milli = _int(record, "num_gpu"), _int(record, "gpu_milli")
    if num_gpu and not 1 <= milli <= GPU_WHOLE:
        raise ValidationError("gpu_milli", f"must be 1..{GPU_WHOLE} for a GPU pod, got {milli}")
    if num_gpu > 1 and milli != GPU_WHOLE:
        raise ValidationError("gpu_milli", f"a pod with num_gpu={num_gpu} must take whole GPUs (1000)")
    spec = tuple(m.strip() for m in (record.get("gpu_spec") or "").split("|") if m.strip())
    requests = Resources.of(cpu=_int(record, "cpu_milli"), memory=_int(record, "memory_mib"),
                            gpu=num_gpu * milli if num_gpu else 0)
    try:
        workload = Workload(record["name"].strip(), requests, node_selector=gpu_model_selector(spec))
    except ValidationError as err:
        raise ValidationError(_COLUMN_OF.get(err.field, err.field), err.message) from None
    return TracePod(workload, num_gpu, milli if num_gpu else 0, spec)


_COLUMN_OF = {"node.name": "sn", "workload.name": "name", "node.gpuModel": "model",
              "nodeSelector.gpu.berth.io/model": "gpu_spec"}
