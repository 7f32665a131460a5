"""OpenAPI v3: the /openapi/v3 index and one document per group-version, generated from KINDS and the schema.

kubectl reads these to decide on server-side field validation (a PATCH operation whose
`x-kubernetes-group-version-kind` matches and that takes a `fieldValidation` parameter) and, for client-side
apply, to find strategic-merge metadata (`x-kubernetes-patch-merge-key`/`-strategy` on list fields of the
component schema tagged with the kind). The documents are also what schemathesis fuzzes in the tests.
Documents are built once per process and cached. Called by app.py.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import orjson

from berth.declarative.apiserver.kinds import GROUP_VERSIONS, KINDS, SUBRESOURCES, ResourceSpec
from berth.declarative.apiserver.patch import MERGE_KEYS, PRIMITIVE_MERGE
from berth.declarative.apiserver.schema import Node, model_nodes

REF = "#/components/schemas/"
SCALAR_SCHEMAS = {"str": {"type": "string"}, "int": {"type": "integer", "format": "int64"},
                  "float": {"type": "number", "format": "double"}, "bool": {"type": "boolean"},
                  "datetime": {"type": "string", "format": "date-time"}, "date": {"type": "string", "format": "date"},
                  "bytearray": {"type": "string", "format": "byte"}}
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json")
STATUS = {"type": "object", "properties": {"kind": {"type": "string"}, "apiVersion": {"type": "string"},
                                           "status": {"type": "string"}, "message": {"type": "string"},
                                           "reason": {"type": "string"}, "code": {"type": "integer"}}}


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index() -> dict:
    return {"paths": {gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{gv_path(g, v)}?hash={_hash(g, v)}"}
                      for g, v in GROUP_VERSIONS}}


@lru_cache(maxsize=None)
def _hash(group: str, version: str) -> str:
    return hashlib.sha256(orjson.dumps(_document(group, version))).hexdigest()[:16].upper()


def document(path: str) -> dict | None:
    for g, v in GROUP_VERSIONS:
        if gv_path(g, v) == path.strip("/"):
            return _document(g, v)
    return None


# -- schemas -----------------------------------------------------------------------------------------------
def schema_of(node: Node) -> dict:
    if node.type == "object":
        return {"$ref": REF + node.model} if node.model else {"type": "object"}
    if node.type == "list":
        return {"type": "array", "items": schema_of(node.item)}
    if node.type == "map":
        return {"type": "object", "additionalProperties": schema_of(node.item)}
    out = dict(SCALAR_SCHEMAS.get(node.type, {}))
    if node.format:
        out["format"] = node.format
    return out


def component(node: Node, gvk: dict | None) -> dict:
    props = {}
    for name, child in node.fields.items():
        prop = schema_of(child)
        merge = MERGE_KEYS.get((node.model, name))
        if merge is PRIMITIVE_MERGE:
            prop["x-kubernetes-patch-strategy"] = "merge"
        elif merge:
            prop.update({"x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": merge})
        props[name] = prop
    out = {"type": "object", "properties": props}
    if node.required:
        out["required"] = list(node.required)
    if gvk:
        out["x-kubernetes-group-version-kind"] = [gvk]
    return out


def components(specs: list[ResourceSpec]) -> dict:
    models: dict[str, Node] = {}
    tagged: dict[str, dict] = {}
    for spec in specs:
        root = spec.model
        for name in (root, root + "List"):
            models.update(model_nodes(name))
        tagged[root] = {"group": spec.group, "version": spec.version, "kind": spec.kind}
        tagged[root + "List"] = {"group": spec.group, "version": spec.version, "kind": spec.list_kind}
        for sub in spec.subresources:
            sub_model = SUBRESOURCES[sub][2]
            if sub_model:
                models.update(model_nodes(sub_model))
    schemas = {name: component(node, tagged.get(name)) for name, node in models.items()}
    schemas["Status"] = STATUS
    return schemas


# -- paths -------------------------------------------------------------------------------------------------
def _q(name: str, kind: str = "string") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "uniqueItems": True}


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "uniqueItems": True}


LIST_PARAMS = [_q("labelSelector"), _q("fieldSelector"), _q("limit", "integer"), _q("continue"),
               _q("resourceVersion"), _q("timeoutSeconds", "integer"), _q("allowWatchBookmarks", "boolean"),
               _q("watch", "boolean")]
WRITE_PARAMS = [_q("dryRun"), _q("fieldManager"), _q("fieldValidation")]
DELETE_PARAMS = [_q("dryRun"), _q("gracePeriodSeconds", "integer"), _q("propagationPolicy")]


def _json(ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": REF + ref}}}


def _responses(ok: str, codes=("200",)) -> dict:
    out = {code: {"description": "OK", "content": _json(ok)} for code in codes}
    out["default"] = {"description": "error", "content": _json("Status")}
    return out


def _op(spec: ResourceSpec, action: str, op_id: str, model: str, *, params=(), body: str = "", patch=False,
        codes=("200",), kind: dict | None = None) -> dict:
    op = {"operationId": op_id, "parameters": list(params), "responses": _responses(model, codes),
          "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": kind or {"group": spec.group, "version": spec.version,
                                                      "kind": spec.kind}}
    if patch:
        op["requestBody"] = {"required": True, "content": {t: {"schema": {"type": "object"}} for t in PATCH_TYPES}}
    elif body:
        op["requestBody"] = {"required": True, "content": _json(body)}
    return op


def _op_id(verb: str, spec: ResourceSpec, suffix: str = "") -> str:
    gv = (spec.group.split(".")[0].capitalize() if spec.group else "Core") + spec.version.capitalize()
    scope = "Namespaced" if spec.namespaced and verb not in ("listAll",) else ""
    return f"{verb.replace('All', '')}{gv}{scope}{spec.kind}{suffix}" + ("ForAllNamespaces" if verb == "listAll" else "")


def resource_paths(spec: ResourceSpec) -> dict:
    base = f"/{gv_path(spec.group, spec.version)}"
    scope = f"{base}/namespaces/{{namespace}}/{spec.plural}" if spec.namespaced else f"{base}/{spec.plural}"
    scope_params = [_path_param("namespace")] if spec.namespaced else []
    m, lst = spec.model, spec.model + "List"
    paths = {
        scope: {"parameters": scope_params,
                "get": _op(spec, "list", _op_id("list", spec), lst, params=LIST_PARAMS),
                "post": _op(spec, "post", _op_id("create", spec), m, params=WRITE_PARAMS, body=m,
                            codes=("200", "201", "202")),
                "delete": _op(spec, "deletecollection", _op_id("deleteCollection", spec), "Status",
                              params=LIST_PARAMS[:4] + DELETE_PARAMS)},
        f"{scope}/{{name}}": {"parameters": scope_params + [_path_param("name")],
                              "get": _op(spec, "get", _op_id("read", spec), m),
                              "put": _op(spec, "put", _op_id("replace", spec), m, params=WRITE_PARAMS, body=m,
                                         codes=("200", "201")),
                              "patch": _op(spec, "patch", _op_id("patch", spec), m,
                                           params=WRITE_PARAMS + [_q("force", "boolean")], patch=True),
                              "delete": _op(spec, "delete", _op_id("delete", spec), "Status" if not
                                            spec.return_deleted else m, params=DELETE_PARAMS, codes=("200", "202"))},
    }
    if spec.namespaced:
        paths[f"{base}/{spec.plural}"] = {"get": _op(spec, "list", _op_id("listAll", spec), lst, params=LIST_PARAMS)}
    for sub in spec.subresources:
        paths.update(_sub_paths(spec, sub, f"{scope}/{{name}}/{sub}", scope_params + [_path_param("name")]))
    return paths


def _sub_paths(spec: ResourceSpec, sub: str, path: str, params: list) -> dict:
    kind, gv, model, verbs = SUBRESOURCES[sub]
    model = model or spec.model
    gvk = {"group": gv.split("/")[0] if "/" in gv else "", "version": gv.split("/")[-1], "kind": kind} if kind \
        else None
    suffix = sub.capitalize()
    ops: dict = {"parameters": params}
    if sub == "log":
        ops["get"] = {"operationId": _op_id("read", spec, "Log"), "parameters": [_q("container"),
                      _q("follow", "boolean"), _q("tailLines", "integer"), _q("previous", "boolean")],
                      "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema":
                                    {"type": "string"}}}}, "default": {"description": "error",
                                                                       "content": _json("Status")}}}
        return {path: ops}
    if "get" in verbs:
        ops["get"] = _op(spec, "get", _op_id("read", spec, suffix), model, kind=gvk)
    if "update" in verbs:
        ops["put"] = _op(spec, "put", _op_id("replace", spec, suffix), model, params=WRITE_PARAMS, body=model,
                         kind=gvk)
    if "patch" in verbs:
        ops["patch"] = _op(spec, "patch", _op_id("patch", spec, suffix), model, params=WRITE_PARAMS, patch=True,
                           kind=gvk)
    if "create" in verbs:
        ops["post"] = _op(spec, "post", _op_id("create", spec, suffix), "Status", params=WRITE_PARAMS, body=model,
                          codes=("200", "201", "202"), kind=gvk)
    return {path: ops}


@lru_cache(maxsize=None)
def _document(group: str, version: str) -> dict:
    specs = [k for k in KINDS if k.group == group and k.version == version]
    paths: dict = {}
    for spec in specs:
        paths.update(resource_paths(spec))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (berth)", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": components(specs)}}
