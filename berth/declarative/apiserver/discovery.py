"""Discovery documents: /version, /api, /apis and the per-group-version APIResourceLists.

All are computed from the KINDS table. Only the legacy (unaggregated) discovery format is served; kubectl
and client-go fall back to it when the response is not an APIGroupDiscoveryList. Called by app.py.
"""

from __future__ import annotations

from berth.declarative.apiserver.kinds import GROUP_VERSIONS, KINDS, SUBRESOURCES

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-berth", "gitCommit": "", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "python", "compiler": "cpython",
           "platform": "linux/amd64"}


def api_versions() -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def _group(group: str) -> dict:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for g, v in GROUP_VERSIONS if g == group]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def api_groups() -> dict:
    groups = list(dict.fromkeys(g for g, _ in GROUP_VERSIONS if g))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in groups]}


def api_group(group: str) -> dict | None:
    return _group(group) if any(g == group for g, _ in GROUP_VERSIONS if g) else None


def resource_list(group: str, version: str) -> dict | None:
    specs = [k for k in KINDS if k.group == group and k.version == version]
    if not specs:
        return None
    resources = []
    for k in specs:
        entry = {"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced, "kind": k.kind,
                 "verbs": list(k.verbs)}
        if k.short_names:
            entry["shortNames"] = list(k.short_names)
        if k.categories:
            entry["categories"] = list(k.categories)
        resources.append(entry)
        for sub in k.subresources:
            kind, gv, _model, verbs = SUBRESOURCES[sub]
            sub_entry = {"name": f"{k.plural}/{sub}", "singularName": "", "namespaced": k.namespaced,
                         "kind": kind or k.kind, "verbs": list(verbs)}
            if gv and "/" in gv:
                sub_entry["group"], sub_entry["version"] = gv.split("/")
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
