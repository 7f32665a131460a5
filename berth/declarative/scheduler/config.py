"""Scheduler profiles from a KubeSchedulerConfiguration-shaped YAML, as engine `Policy` objects.

Each profile (`schedulerName`) becomes a `berth.engine.Policy`: upstream plugin names map to the
engine's filter and score plugins through `ALIASES` (the only place upstream names stand for
engine plugins), weights carry over, and
`NodeResourcesFit`'s `scoringStrategy` (LeastAllocated or MostAllocated) picks the engine scorer.
Any engine scorer may also be enabled by its own name (e.g. `fgd`, `best-fit`).  Upstream default
plugins the engine has no counterpart for (volumes, ports, image locality, topology spread) are
accepted and reported in `Profile.ignored`.  Anything else is a `ValidationError` naming the file
and field.  The scheduler builds one engine per profile over a shared snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from berth.engine import Policy
from berth.engine.filters import FILTERS
from berth.engine.scorers import SCORERS
from berth.model import ValidationError

DEFAULT_SCHEDULER = "default-scheduler"
API_VERSIONS = ("kubescheduler.config.k8s.io/v1", "kubescheduler.config.k8s.io/v1beta3")
ALIASES = {"NodeResourcesFit": "resource-fit", "NodeAffinity": "node-selector", "TaintToleration": "taint-toleration",
           "InterPodAffinity": "anti-affinity", "NodeResourcesBalancedAllocation": "balanced-allocation"}
"""Upstream plugin name -> the engine's name for it: at a filter point the engine filter of that
name, at a score point the engine scorer of that name, if there is one (NodeResourcesFit scores
by its scoring strategy instead, see `STRATEGIES`)."""
STRATEGIES = {"LeastAllocated": "least-allocated", "MostAllocated": "most-allocated"}
DEFAULT_FILTERS = ("TaintToleration", "NodeAffinity", "NodeResourcesFit", "InterPodAffinity")
"""In upstream order, so the first failing filter (the reason a node reports) matches kube-scheduler."""
DEFAULT_SCORES = (("NodeResourcesFit", 1), ("NodeResourcesBalancedAllocation", 1), ("TaintToleration", 3))
NO_COUNTERPART = {"PrioritySort", "SchedulingGates", "NodeUnschedulable", "NodeName", "NodePorts",
                  "VolumeRestrictions", "EBSLimits", "GCEPDLimits", "NodeVolumeLimits", "AzureDiskLimits",
                  "VolumeBinding", "VolumeZone", "PodTopologySpread", "ImageLocality", "DefaultPreemption",
                  "DefaultBinder", "DynamicResources"}
"""Upstream plugins accepted without an engine counterpart (queue sort, preemption and binding are
built into the scheduler; the rest concern features berth does not model)."""


@dataclass(frozen=True)
class Profile:
    """One scheduler profile: the pods with `spec.schedulerName == scheduler_name` use `policy`."""

    scheduler_name: str
    policy: Policy
    ignored: tuple[str, ...] = field(default=())


def default_profiles() -> list[Profile]:
    """The configuration with no file: one `default-scheduler` profile, kube-scheduler's defaults."""
    return [build_profile({"schedulerName": DEFAULT_SCHEDULER}, "defaults")]


def load_config(path: str | Path) -> list[Profile]:
    """Profiles from a KubeSchedulerConfiguration file."""
    text = Path(path).read_text()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValidationError(str(path), f"not valid YAML: {err}") from None
    return parse_config(doc, str(path))


def parse_config(doc: object, source: str = "config") -> list[Profile]:
    """Profiles from an already parsed document; `source` prefixes error fields."""
    if not isinstance(doc, dict):
        raise ValidationError(source, "must be a mapping (a KubeSchedulerConfiguration)")
    if doc.get("kind") != "KubeSchedulerConfiguration":
        raise ValidationError(f"{source}: kind", f"must be KubeSchedulerConfiguration, got {doc.get('kind')!r}")
    if doc.get("apiVersion") not in API_VERSIONS:
        raise ValidationError(f"{source}: apiVersion", f"must be one of {', '.join(API_VERSIONS)}")
    profiles = doc.get("profiles") or [{"schedulerName": DEFAULT_SCHEDULER}]
    out = [build_profile(p, f"{source}: profiles[{i}]") for i, p in enumerate(profiles)]
    names = [p.scheduler_name for p in out]
    if len(set(names)) != len(names):
        raise ValidationError(f"{source}: profiles", f"duplicate schedulerName in {names}")
    return out


def build_profile(raw: dict, where: str) -> Profile:
    """One profile: the default plugin sets, then disabled and enabled lists applied in order."""
    if not isinstance(raw, dict):
        raise ValidationError(where, "must be a mapping")
    name = raw.get("schedulerName") or DEFAULT_SCHEDULER
    plugins = raw.get("plugins") or {}
    ignored: set[str] = set()
    filters = _apply([(n, 0) for n in DEFAULT_FILTERS], plugins, ("multiPoint", "filter"), where, ignored)
    scores = _apply(list(DEFAULT_SCORES), plugins, ("multiPoint", "score"), where, ignored)
    strategy = _strategy(raw.get("pluginConfig") or [], where)
    engine_filters = tuple(dict.fromkeys(ALIASES[n] for n, _ in filters if ALIASES.get(n) in FILTERS))
    engine_scores = []
    for plugin, weight in scores:
        scorer = _score_name(plugin, strategy)
        if scorer is None:
            ignored.add(plugin)
        else:
            engine_scores.append((scorer, float(weight)))
    policy = Policy(f"profile:{name}", f"KubeSchedulerConfiguration profile {name}",
                    tuple(engine_scores), filters=engine_filters)
    return Profile(name, policy, tuple(sorted(ignored)))


def _apply(current: list[tuple[str, int]], plugins: dict, points: tuple[str, ...], where: str,
           ignored: set[str]) -> list[tuple[str, int]]:
    for point in points:
        section = plugins.get(point) or {}
        for i, item in enumerate(section.get("disabled") or []):
            gone = _plugin_name(item, f"{where}.plugins.{point}.disabled[{i}]")
            current = [] if gone == "*" else [(n, w) for n, w in current if n != gone]
        for i, item in enumerate(section.get("enabled") or []):
            name = _plugin_name(item, f"{where}.plugins.{point}.enabled[{i}]")
            if name in NO_COUNTERPART:
                ignored.add(name)
                continue
            if name not in ALIASES and name not in SCORERS:
                raise ValidationError(f"{where}.plugins.{point}.enabled[{i}].name",
                                      f"unknown plugin {name!r}; known: {', '.join(sorted({*ALIASES, *SCORERS}))}")
            weight = item.get("weight") or 1
            if not isinstance(weight, int) or weight < 0:
                raise ValidationError(f"{where}.plugins.{point}.enabled[{i}].weight", "must be a non-negative integer")
            current = [(n, w) for n, w in current if n != name] + [(name, weight)]
    return current


def _plugin_name(item: object, where: str) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ValidationError(where, "must be a mapping with a name")
    return item["name"]


def _strategy(config: list, where: str) -> str:
    for i, entry in enumerate(config):
        if isinstance(entry, dict) and entry.get("name") == "NodeResourcesFit":
            kind = (((entry.get("args") or {}).get("scoringStrategy") or {}).get("type")) or "LeastAllocated"
            if kind not in STRATEGIES:
                raise ValidationError(f"{where}.pluginConfig[{i}].args.scoringStrategy.type",
                                      f"{kind!r} is not supported; one of {', '.join(STRATEGIES)}")
            return STRATEGIES[kind]
    return STRATEGIES["LeastAllocated"]


def _score_name(name: str, strategy: str) -> str | None:
    """The engine scorer for an upstream (or engine) score plugin name; None if it has none."""
    if name == "NodeResourcesFit":
        return strategy
    scorer = ALIASES.get(name, name)
    return scorer if scorer in SCORERS else None
