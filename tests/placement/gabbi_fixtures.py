"""Gabbi fixtures, by upstream's class names, that prepare a live berth Placement server.

The upstream gabbi YAML files name fixtures (`APIFixture`, `SharedStorageFixture`, ...).
gabbi looks those names up in this module.  Each fixture gives its YAML file a fresh,
empty service on the live server (`SERVER.reset()`), sets the environment variables the
YAML reads, and -- for the fixtures upstream seeds straight into its database -- creates
the same providers, inventories, traits, aggregates and allocations through REST calls only
(`seeder.Seeder`).  Topologies are data tables below, one per fixture.
"""

from __future__ import annotations

import os
import uuid as uuidlib

from gabbi import fixture

from tests.placement.seeder import Seeder

SERVER = None
"""The `tests.placement.live.LiveServer` under test; set by the harness before running."""

_ENV_UUIDS = ["RP_UUID", "RP_NAME", "RP_UUID1", "RP_NAME1", "RP_UUID2", "RP_NAME2", "PROJECT_ID",
              "ADMIN_PROJECT_ID", "SERVICE_PROJECT_ID", "USER_ID", "PROJECT_ID_ALT", "USER_ID_ALT",
              "INSTANCE_UUID", "MIGRATION_UUID", "CONSUMER_UUID", "PARENT_PROVIDER_UUID",
              "ALT_PARENT_PROVIDER_UUID"]


def _uuid() -> str:
    return str(uuidlib.uuid4())


class APIFixture(fixture.GabbiFixture):
    """Fresh empty service, upstream's environment variables, and the policy mode upstream's
    fixture configures (enforce_new_defaults=False, i.e. deprecated admin rules still count)."""

    options: dict = {"legacy_policy": True}

    def start_fixture(self) -> None:
        SERVER.reset(**self.options)
        for name in _ENV_UUIDS:
            os.environ[name] = _uuid()
        os.environ["CUSTOM_RES_CLASS"] = "CUSTOM_IRON_NFV"
        os.environ["CUSTOM_RES_CLASS1"] = "CUSTOM_IRON_NFV1"
        os.environ["CUSTOM_RES_CLASS2"] = "CUSTOM_IRON_NFV2"
        self.seed = Seeder(SERVER.url)
        try:
            self.populate(self.seed)
        finally:
            self.seed.close()

    def populate(self, seed: Seeder) -> None:
        """Create this fixture's data through the API (none for the plain fixture)."""

    def stop_fixture(self) -> None:
        return None


class SecureRBACPolicyFixture(APIFixture):
    """The new default policies only (berth's and upstream's default)."""

    options: dict = {}


class LegacyRBACPolicyFixture(APIFixture):
    """New defaults OR the deprecated admin-only rules."""


class OpenPolicyFixture(APIFixture):
    """Every policy rule opened to any authenticated caller."""

    options = {"open_policy": True, "legacy_policy": True}


class CORSFixture(APIFixture):
    """CORS on for one allowed origin, allowing the microversion header."""

    options = {"cors_origins": ("http://valid.example.com",), "legacy_policy": True}


class AllocationFixture(APIFixture):
    """One provider (VCPU 10, DISK_GB 2048 in steps of 10) and three consumers' allocations."""

    def populate(self, seed: Seeder) -> None:
        os.environ["ALT_USER_ID"] = _uuid()
        project, user, alt = os.environ["PROJECT_ID"], os.environ["USER_ID"], os.environ["ALT_USER_ID"]
        rp = seed.provider(os.environ["RP_NAME"], uuid=os.environ["RP_UUID"])
        seed.inventory(rp, "DISK_GB", 2048, step_size=10, min_unit=10, max_unit=1000)
        seed.inventory(rp, "VCPU", 10, max_unit=10)
        os.environ["CONSUMER_0"] = seed.allocate(rp, {"DISK_GB": 1000}, project, user)
        os.environ["CONSUMER_ID"] = seed.allocate(rp, {"VCPU": 6}, project, user)
        os.environ["ALT_CONSUMER_ID"] = seed.allocate(rp, {"DISK_GB": 20, "VCPU": 1}, project, alt)
        os.environ["ALT_RP_UUID"] = _uuid()
        os.environ["ALT_RP_NAME"] = _uuid()


def build(seed: Seeder, tree: list[tuple], env: dict[str, str] | None = None) -> dict[str, str]:
    """Create providers from rows (name, parent name or None, aggregate env names, inventories, traits).

    Inventories are (class, total, extra fields) triples; returns name -> uuid.
    """
    env = env if env is not None else {}
    made: dict[str, str] = {}
    for name, parent, aggs, inventories, traits in tree:
        made[name] = seed.provider(name, *(env[a] for a in aggs), parent=made.get(parent) if parent else None)
        for rc, total, extra in inventories:
            seed.inventory(made[name], rc, total, **extra)
        if traits:
            seed.traits(made[name], *traits)
    return made


def _aggs(*names: str) -> dict[str, str]:
    values = {n: _uuid() for n in names}
    os.environ.update(values)
    return values


SHARED_STORAGE = [  # cn1/cn2 with NUMA and PF children, two sharing disk providers, one aggregate
    ("cn1", None, ["AGG_UUID"], [("VCPU", 24, {"allocation_ratio": 16.0}),
                                 ("MEMORY_MB", 128 * 1024, {"allocation_ratio": 1.5})],
     ["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"]),
    ("cn2", None, ["AGG_UUID"], [("VCPU", 24, {"allocation_ratio": 16.0}),
                                 ("MEMORY_MB", 128 * 1024, {"allocation_ratio": 1.5}),
                                 ("DISK_GB", 2000, {"reserved": 100, "allocation_ratio": 1.0})], []),
    ("ss", None, ["AGG_UUID"], [("DISK_GB", 2000, {"reserved": 100})], ["MISC_SHARES_VIA_AGGREGATE"]),
    ("ss2", None, ["AGG_UUID"], [("DISK_GB", 2000, {"reserved": 100})], ["MISC_SHARES_VIA_AGGREGATE"]),
    ("numa1_1", "cn1", [], [], []), ("numa1_2", "cn1", [], [], []),
    ("numa2_1", "cn2", [], [], []), ("numa2_2", "cn2", [], [], []),
    ("pf1_1", "numa1_1", [], [("SRIOV_NET_VF", 8, {})], []),
    ("pf1_2", "numa1_2", [], [("SRIOV_NET_VF", 8, {})], []),
    ("pf2_1", "numa2_1", [], [("SRIOV_NET_VF", 8, {})], []),
    ("pf2_2", "numa2_2", [], [("SRIOV_NET_VF", 8, {})], []),
]


class SharedStorageFixture(APIFixture):
    def populate(self, seed: Seeder) -> None:
        made = build(seed, SHARED_STORAGE, _aggs("AGG_UUID"))
        for name, rp in made.items():
            os.environ[f"{name.upper()}_UUID"] = rp


NUMA_AGGREGATE = [
    ("cn1", None, ["AGGA_UUID"], [], []),
    ("cn2", None, ["AGGA_UUID", "AGGB_UUID"], [], []),
    ("ss1", None, ["AGGA_UUID"], [("DISK_GB", 2000, {"reserved": 100})], ["MISC_SHARES_VIA_AGGREGATE"]),
    ("ss2", None, ["AGGC_UUID"], [("DISK_GB", 2000, {"reserved": 100})], ["MISC_SHARES_VIA_AGGREGATE"]),
    ("numa1_1", "cn1", ["AGGC_UUID"], [("VCPU", 24, {"allocation_ratio": 16.0})], []),
    ("numa1_2", "cn1", [], [("VCPU", 24, {"allocation_ratio": 16.0})], []),
    ("numa2_1", "cn2", [], [("VCPU", 24, {"allocation_ratio": 16.0})], []),
    ("numa2_2", "cn2", [], [("VCPU", 24, {"allocation_ratio": 16.0})], []),
]


class NUMAAggregateFixture(APIFixture):
    def populate(self, seed: Seeder) -> None:
        made = build(seed, NUMA_AGGREGATE, _aggs("AGGA_UUID", "AGGB_UUID", "AGGC_UUID"))
        for name, rp in made.items():
            os.environ[f"{name.upper()}_UUID"] = rp


class NonSharedStorageFixture(APIFixture):
    def populate(self, seed: Seeder) -> None:
        _aggs("AGGA_UUID", "AGGB_UUID", "AGGC_UUID")
        for name in ("cn1", "cn2", "cn3"):
            rp = seed.provider(name)
            os.environ[f"{name.upper()}_UUID"] = rp
            for rc, total in (("VCPU", 24), ("MEMORY_MB", 128 * 1024), ("DISK_GB", 2000)):
                seed.inventory(rp, rc, total)


GRANULAR = [
    ("cn_left", None, ["AGGA"], [("VCPU", 8, {}), ("MEMORY_MB", 4096, {}), ("DISK_GB", 500, {}),
                                 ("VGPU", 8, {}), ("SRIOV_NET_VF", 8, {}), ("CUSTOM_NET_MBPS", 4000, {})],
     ["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_GPU_API_DXVA", "HW_NIC_DCB_PFC", "CUSTOM_FOO"]),
    ("cn_middle", None, ["AGGA", "AGGB"], [("VCPU", 8, {}), ("MEMORY_MB", 4096, {}), ("SRIOV_NET_VF", 8, {}),
                                           ("CUSTOM_NET_MBPS", 4000, {})],
     ["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS"]),
    ("cn_right", None, ["AGGB", "AGGC"], [("VCPU", 8, {}), ("MEMORY_MB", 4096, {}), ("DISK_GB", 500, {}),
                                          ("VGPU", 8, {"max_unit": 2})],
     ["HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD"]),
    ("shr_disk_1", None, ["AGGA"], [("DISK_GB", 1000, {})], ["MISC_SHARES_VIA_AGGREGATE", "CUSTOM_DISK_SSD"]),
    ("shr_disk_2", None, ["AGGA", "AGGB"], [("DISK_GB", 1000, {})], ["MISC_SHARES_VIA_AGGREGATE"]),
    ("shr_net", None, ["AGGC"], [("SRIOV_NET_VF", 16, {}), ("CUSTOM_NET_MBPS", 40000, {})],
     ["MISC_SHARES_VIA_AGGREGATE"]),
]


class GranularFixture(APIFixture):
    def populate(self, seed: Seeder) -> None:
        seed.resource_class("CUSTOM_NET_MBPS")
        made = build(seed, GRANULAR, _aggs("AGGA", "AGGB", "AGGC"))
        for name, rp in made.items():
            os.environ[name.upper()] = rp


def _numa_network(seed: Seeder, cn1_parent: str | None, cn2_parent: str | None) -> dict[str, str]:
    """NUMANetworkFixture's two hosts, optionally under given parents."""
    env = _aggs("AGGA_UUID")
    made = {"cn1_parent": cn1_parent, "cn2_parent": cn2_parent}
    ss1 = seed.provider("ss1", env["AGGA_UUID"])
    seed.traits(ss1, "MISC_SHARES_VIA_AGGREGATE")
    seed.inventory(ss1, "DISK_GB", 2000)
    made["ss1"] = ss1
    made["cn1"] = seed.provider("cn1", parent=cn1_parent)
    seed.aggregates(made["cn1"], env["AGGA_UUID"])
    seed.traits(made["cn1"], "COMPUTE_VOLUME_MULTI_ATTACH")
    made.update(build_under(seed, NUMA_NETWORK_CN1, made))
    seed.allocate(made["numa0"], {"VCPU": 2}, "numafx-project", "numafx-user")
    made["cn2"] = seed.provider("cn2", parent=cn2_parent)
    seed.aggregates(made["cn2"], env["AGGA_UUID"])
    seed.inventory(made["cn2"], "VCPU", 8)
    seed.allocate(made["cn2"], {"VCPU": 3}, "numafx-project", "numafx-user")
    seed.inventory(made["cn2"], "MEMORY_MB", 2048, min_unit=1024, step_size=128)
    seed.inventory(made["cn2"], "DISK_GB", 1000)
    seed.traits(made["cn2"], "CUSTOM_FOO")
    made.update(build_under(seed, NUMA_NETWORK_CN2, made))
    return made


def build_under(seed: Seeder, rows: list[tuple], made: dict[str, str]) -> dict[str, str]:
    """Rows (name, parent name, inventories, traits) whose parents are already in `made`."""
    out: dict[str, str] = {}
    for name, parent, inventories, traits in rows:
        rp = seed.provider(name, parent=out.get(parent) or made[parent])
        out[name] = rp
        if traits:
            seed.traits(rp, *traits)
        for rc, total, extra in inventories:
            seed.inventory(rp, rc, total, **extra)
    return out


NUMA_NETWORK_CN1 = [
    ("numa0", "cn1", [("VCPU", 4, {}), ("MEMORY_MB", 2048, {"min_unit": 512, "step_size": 256})], ["HW_NUMA_ROOT"]),
    ("numa1", "cn1", [("VCPU", 4, {}), ("MEMORY_MB", 2048, {"min_unit": 256, "max_unit": 1024})],
     ["HW_NUMA_ROOT", "CUSTOM_FOO"]),
    ("fpga0", "numa0", [("FPGA", 1, {})], []),
    ("pgpu0", "numa0", [("VGPU", 8, {})], []),
    ("fpga1_0", "numa1", [("FPGA", 1, {})], []),
    ("fpga1_1", "numa1", [("FPGA", 1, {})], []),
    ("sriov_agent", "cn1", [], ["CUSTOM_VNIC_TYPE_DIRECT"]),
    ("esn1", "sriov_agent", [("NET_BW_EGR_KILOBIT_PER_SEC", 10000, {})], ["CUSTOM_PHYSNET1"]),
    ("esn2", "sriov_agent", [("NET_BW_EGR_KILOBIT_PER_SEC", 20000, {})], ["CUSTOM_PHYSNET2"]),
    ("ovs_agent", "cn1", [], ["CUSTOM_VNIC_TYPE_NORMAL"]),
    ("br_int", "ovs_agent", [("NET_BW_EGR_KILOBIT_PER_SEC", 1000, {})], ["CUSTOM_PHYSNET0"]),
]
NUMA_NETWORK_CN2 = [
    ("nic1", "cn2", [], ["CUSTOM_HW_NIC_ROOT"]),
    ("nic2", "cn2", [], ["CUSTOM_HW_NIC_ROOT"]),
    ("nic3", "cn2", [], ["CUSTOM_HW_NIC_ROOT"]),
    ("pf1_1", "nic1", [("CUSTOM_VF", 4, {})], ["CUSTOM_PHYSNET1"]),
    ("pf1_2", "nic1", [("CUSTOM_VF", 4, {})], ["CUSTOM_PHYSNET2"]),
    ("pf2_1", "nic2", [("CUSTOM_VF", 2, {})], ["CUSTOM_PHYSNET1"]),
    ("pf2_2", "nic2", [("CUSTOM_VF", 2, {})], ["CUSTOM_PHYSNET2"]),
    ("pf2_3", "nic2", [("CUSTOM_VF", 2, {})], ["CUSTOM_PHYSNET1"]),
    ("pf2_4", "nic2", [("CUSTOM_VF", 2, {})], ["CUSTOM_PHYSNET2"]),
    ("pf3_1", "nic3", [("CUSTOM_VF", 8, {})], ["CUSTOM_PHYSNET1"]),
]


def _export(made: dict[str, str]) -> None:
    for name, rp in made.items():
        if rp and not name.endswith("_parent"):
            os.environ[f"{name.upper()}_UUID"] = rp


class NUMANetworkFixture(APIFixture):
    def populate(self, seed: Seeder) -> None:
        _export(_numa_network(seed, None, None))


class DeepNUMANetworkFixture(APIFixture):
    """NUMANetworkFixture with cn1/cn2 under parents p1/p2 under a grandparent gp1."""

    def populate(self, seed: Seeder) -> None:
        gp1 = seed.provider("gp1")
        p1, p2 = seed.provider("p1", parent=gp1), seed.provider("p2", parent=gp1)
        made = _numa_network(seed, p1, p2)
        _export(made)
        os.environ.update(GP1_UUID=gp1, P1_UUID=p1, P2_UUID=p2)


_NORMAL, _DIRECT = "CUSTOM_VNIC_TYPE_NORMAL", "CUSTOM_VNIC_TYPE_DIRECT"
_SRIOV = [_DIRECT, "CUSTOM_VNIC_TYPE_DIRECT_PHYSICAL", "CUSTOM_VNIC_TYPE_MACVTAP"]
_BW = "NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC"
# compute name -> (bridges [(suffix, bandwidth, physnet)], pfs [(suffix, bandwidth, physnet)])
NEUTRON_QOS = {
    "compute0": ([("br_ex", "br-ex", 5000, "CUSTOM_PHYSNET_OTHER")],
                 [("pf0", "enp129s0f0", 10000, "CUSTOM_PHYSNET_OTHER")]),
    "compute1": ([("br_ex", "br-ex", 5000, "CUSTOM_PHYSNET_MSN_S1")],
                 [("pf0", "enp129s0f0", 10000, "CUSTOM_PHYSNET_MSN_S1")]),
    "compute2": ([("br_ex", "br-ex", 5000, "CUSTOM_PHYSNET_MSN_S2")],
                 [("pf0", "enp129s0f0", 10000, "CUSTOM_PHYSNET_MSN_S2")]),
    "compute3": ([("br_ex", "br-ex", 1000, "CUSTOM_PHYSNET_MSN_S1"), ("br_ex2", "br-ex2", 1000, "CUSTOM_PHYSNET_MSN_S2")],
                 [("pf0", "enp129s0f0", 1000, "CUSTOM_PHYSNET_MSN_S1"),
                  ("pf1", "enp129s0f1", 1000, "CUSTOM_PHYSNET_MSN_S2")]),
}


class NeutronQoSMultiSegmentFixture(APIFixture):
    """Four computes with OVS (packet rate, bridges) and SR-IOV (PF bandwidth) agents on physnets."""

    def populate(self, seed: Seeder) -> None:
        for cn, (bridges, pfs) in NEUTRON_QOS.items():
            root = seed.provider(cn)
            os.environ[cn] = root
            for rc, total in (("VCPU", 8), ("MEMORY_MB", 4096), ("DISK_GB", 500)):
                seed.inventory(root, rc, total)
            ovs = seed.provider(f"{cn}:Open vSwitch agent", parent=root)
            os.environ[f"{cn}:ovs_agent"] = ovs
            seed.inventory(ovs, "NET_PACKET_RATE_KILOPACKET_PER_SEC", 1000)
            seed.traits(ovs, _NORMAL)
            for env, name, bw, physnet in bridges:
                self._device(seed, cn, env, f"{cn}:Open vSwitch agent:{name}", ovs, bw, [_NORMAL, physnet])
            sriov = seed.provider(f"{cn}:NIC Switch agent", parent=root)
            os.environ[f"{cn}:sriov_agent"] = sriov
            seed.traits(sriov, *_SRIOV)
            for env, name, bw, physnet in pfs:
                self._device(seed, cn, env, f"{cn}:NIC Switch agent:{name}", sriov, bw, [*_SRIOV, physnet])

    @staticmethod
    def _device(seed: Seeder, cn: str, env: str, name: str, parent: str, bw: int, traits: list[str]) -> None:
        rp = seed.provider(name, parent=parent)
        os.environ[f"{cn}:{env}"] = rp
        for rc in _BW:
            seed.inventory(rp, rc, bw)
        seed.traits(rp, *traits)
