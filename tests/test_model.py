"""The model validates at construction and names the field at fault."""

import pytest

from berth.model import LabelRequirement, Node, Resources, Taint, Toleration, ValidationError, Workload
from berth.model.constraints import TaintEffect
from berth.model.node import GPU_MODEL_LABEL
from berth.model.workload import gpu_model_selector


def test_negative_capacity_names_the_field():
    with pytest.raises(ValidationError) as err:
        Node("a", {"cpu": -1})
    assert err.value.field == "node.capacity.cpu"
    assert "negative" in str(err.value)


def test_unknown_resource_is_rejected_but_custom_domain_names_pass():
    with pytest.raises(ValidationError, match="workload.requests.fpga"):
        Workload("w", {"fpga": 1})
    assert Workload("w", {"example.com/fpga": 2}).requests["example.com/fpga"] == 2


def test_gpu_above_one_device_must_be_whole():
    with pytest.raises(ValidationError, match="workload.requests.gpu"):
        Workload("w", Resources.of(gpu=1500))
    whole = Workload("w", Resources.of(gpu=3000))
    share = Workload("s", Resources.of(gpu=470))
    assert (whole.gpu_count, whole.gpu_milli) == (3, 1000)
    assert (share.gpu_count, share.gpu_milli) == (1, 470)


def test_node_gpu_capacity_is_derived_from_devices_and_labels_carry_the_model():
    n = Node("g", Resources.of(cpu=1), gpus=4, gpu_model="T4", zone="z1")
    assert n.capacity["gpu"] == 4000 and n.gpu_used == (0, 0, 0, 0)
    assert n.labels[GPU_MODEL_LABEL] == "T4" and n.labels["topology.kubernetes.io/zone"] == "z1"
    with pytest.raises(ValidationError, match="node.gpuUsed"):
        Node("g", Resources.of(cpu=1), gpus=2, gpu_used=(0, 1001))


def test_invalid_names_are_rejected():
    with pytest.raises(ValidationError, match="node.name"):
        Node("Upper_Case", Resources.of(cpu=1))


def test_toleration_matching_follows_kubernetes_rules():
    taint = Taint("dedicated", "gpu", TaintEffect.NO_SCHEDULE)
    assert Toleration("dedicated", "Equal", "gpu").tolerates(taint)
    assert not Toleration("dedicated", "Equal", "cpu").tolerates(taint)
    assert Toleration("", "Exists").tolerates(taint)
    assert not Toleration("dedicated", "Exists", effect=TaintEffect.NO_EXECUTE).tolerates(taint)


def test_gpu_model_selector_is_one_of_form():
    (req,) = gpu_model_selector(("V100M16", "V100M32"))
    assert req == LabelRequirement(GPU_MODEL_LABEL, "In", ("V100M16", "V100M32"))
    assert req.matches({GPU_MODEL_LABEL: "V100M32"}) and not req.matches({GPU_MODEL_LABEL: "T4"})
    assert gpu_model_selector(()) == ()


def test_equal_shapes_share_an_id_and_pickling_rederives_it():
    import pickle

    from berth.model import Resources, Workload

    a, b = Workload("a", Resources.of(cpu=7, memory=9)), Workload("b", Resources.of(cpu=7, memory=9))
    c = Workload("c", Resources.of(cpu=7, memory=9), priority=3)      # priority is not part of the shape
    d = Workload("d", Resources.of(cpu=8, memory=9))
    assert a.shape_id == b.shape_id == c.shape_id != d.shape_id
    assert a.requests_id == b.requests_id != d.requests_id
    payload = pickle.dumps(d)
    assert b"shape_id" not in payload          # rebuilt by the constructor, not copied from this process
    copy = pickle.loads(payload)
    assert copy == d and copy.shape_id == d.shape_id and copy.shape is d.shape
