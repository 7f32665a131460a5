"""Trace loading: every shipped file loads, and a bad row names file, line and column and loads nothing."""

import pytest

from berth.sim.trace import TraceError, load_nodes, load_pods, node_list_path, pod_trace_path

HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"


def test_every_shipped_trace_loads(data_dir):
    nodes = load_nodes(node_list_path(data_dir))
    assert len(nodes) == 1213 and sum(n.gpus for n in nodes) == 6212
    for path in sorted((data_dir / "alibaba-gpu-2023").glob("openb_pod_list_*.csv")):
        pods = load_pods(path)
        assert pods, path
    spec = load_pods(pod_trace_path("gpuspec33", data_dir))
    assert sum(1 for p in spec if p.gpu_spec) == 2388


@pytest.mark.parametrize("row, column", [
    ("p1,abc,10,1,500,,LS,Running,0,1,0", "cpu_milli"),
    ("p1,100,10,2,500,,LS,Running,0,1,0", "gpu_milli"),
    ("p1,100,-1,0,0,,LS,Running,0,1,0", "memory_mib"),
    ("P_1,100,10,0,0,,LS,Running,0,1,0", "name"),
])
def test_malformed_row_names_file_line_and_column(tmp_path, row, column):
    path = tmp_path / "pods.csv"
    path.write_text(HEADER + "ok-1,100,10,1,500,,LS,Running,0,1,0\n" + row + "\n")
    with pytest.raises(TraceError) as err:
        load_pods(path)
    assert str(err.value).startswith(f"{path}:3: {column}:")


def test_missing_column_and_missing_file(tmp_path):
    path = tmp_path / "nodes.csv"
    path.write_text("sn,cpu_milli\nn1,100\n")
    with pytest.raises(TraceError, match="nodes.csv:1: memory_mib: missing column"):
        load_nodes(path)
    with pytest.raises(TraceError, match="No such file"):
        load_nodes(tmp_path / "absent.csv")
