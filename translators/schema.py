"""JSON Schema clean-up for targets that accept only a subset of it.

``clean_schema(schema, "gemini")`` turns a client's JSON Schema (tool
parameters written for OpenAI or Anthropic, MCP servers, pydantic, zod) into
the OpenAPI-3.0 subset that Gemini's ``functionDeclarations[].parameters``
accepts. Gemini parses that field as a protobuf ``Schema`` message and fails the
whole request (400 INVALID_ARGUMENT, "Unknown name ... Cannot find field") on
the first key it does not know, so the cleaner keeps a whitelist rather than a
blacklist: :data:`GEMINI_KEYS` is what the ``Schema`` message has, and
:data:`GEMINI_REWRITES` documents the keys that are rewritten instead of simply
dropped. Everything else (``$schema``, ``$id``, ``additionalProperties``,
``patternProperties``, ``propertyNames``, ``unevaluatedProperties``,
``dependentRequired``, ``if``/``then``/``else``, ``not``, ``multipleOf``,
``uniqueItems``, ``examples``, ``default``, ``title``, ``readOnly``,
``contentMediaType``, ``x-*`` extensions, ...) is dropped.

Further rules, each from an error Gemini returns:

* ``type`` must be one string: ``["string", "null"]`` becomes ``STRING`` plus
  ``nullable: true``; several non-null types become an ``anyOf``.
* ``properties``/``required`` only on OBJECT, ``items`` only on ARRAY, and an
  ARRAY needs ``items`` (``{"type": "STRING"}`` when the schema gave none).
* An OBJECT with empty ``properties`` is rejected: the key is left out.
* ``required`` may only name declared properties.
* ``enum`` holds strings only; ``format`` is limited per type (``enum`` and
  ``date-time`` for strings, ``float``/``double``, ``int32``/``int64``).
* ``$ref`` is not resolved by Gemini: local references into ``$defs`` or
  ``definitions`` are inlined; a cycle (or a depth beyond ``MAX_DEPTH``) is cut
  to ``{"type": "OBJECT"}``.

Types are written in upper case, as Google's own SDK sends them. The input is
never mutated.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 24
"""Deeper nesting (or $ref expansion) is cut to a plain object."""

GEMINI_KEYS = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "items",
        "properties",
        "required",
        "anyOf",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minProperties",
        "maxProperties",
        "propertyOrdering",
    }
)
"""Keys of Gemini's ``Schema`` message that are kept."""

GEMINI_REWRITES: dict[str, str] = {
    "$ref": "inlined from $defs/definitions (cycles cut to an object)",
    "$defs": "consumed by $ref inlining",
    "definitions": "consumed by $ref inlining",
    "allOf": "merged into one schema",
    "oneOf": "becomes anyOf",
    "anyOf": "a [X, null] pair becomes X with nullable: true",
    "const": "becomes enum: [value]",
    "type": "a list becomes one type plus nullable (or anyOf)",
    "exclusiveMinimum": "becomes minimum (integers: +1) when no minimum is set",
    "exclusiveMaximum": "becomes maximum (integers: -1) when no maximum is set",
    "prefixItems": "its first schema becomes items",
}
"""Keys that are translated rather than dropped (documentation table)."""

_FORMATS = {
    "STRING": {"enum", "date-time"},
    "NUMBER": {"float", "double"},
    "INTEGER": {"int32", "int64"},
}
_COUNTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_BOUNDS = (("minimum", "exclusiveMinimum", 1), ("maximum", "exclusiveMaximum", -1))
_TYPES = {"string", "number", "integer", "boolean", "array", "object"}


def clean_schema(schema: dict[str, Any], target: str) -> dict[str, Any]:
    """A copy of ``schema`` that ``target`` accepts (only ``"gemini"`` so far)."""
    if target != "gemini":
        raise ValueError(f"no schema rules for target {target!r}")
    if not isinstance(schema, dict):
        return {"type": "OBJECT"}
    defs = {**_dict(schema.get("definitions")), **_dict(schema.get("$defs"))}
    return _clean(schema, defs, (), 0)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _clean(node: Any, defs: dict[str, Any], refs: tuple[str, ...], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return {"type": "OBJECT"} if depth > MAX_DEPTH else {}
    if isinstance(node.get("$ref"), str):
        return _clean_ref(node, defs, refs, depth)
    if isinstance(node.get("allOf"), list):
        return _clean(_merge_all_of(node, defs), defs, refs, depth + 1)
    variants = node.get("anyOf", node.get("oneOf"))
    if isinstance(variants, list):
        return _clean_union(node, variants, defs, refs, depth)
    kind, nullable, others = _split_type(node)
    if others:
        return _clean_type_list(node, [kind, *others], nullable, defs, refs, depth)
    return _clean_typed(node, kind, nullable, defs, refs, depth)


def _clean_type_list(
    node: dict[str, Any],
    kinds: list[Any],
    nullable: bool,
    defs: dict[str, Any],
    refs: tuple[str, ...],
    depth: int,
) -> dict[str, Any]:
    """``type: ["string", "number"]``: Gemini wants one type, so an anyOf."""
    rest = {k: v for k, v in node.items() if k not in ("type", "description", "nullable")}
    out: dict[str, Any] = {
        "anyOf": [_clean({**rest, "type": k}, defs, refs, depth + 1) for k in kinds]
    }
    if isinstance(node.get("description"), str):
        out["description"] = node["description"]
    if nullable:
        out["nullable"] = True
    return out


def _clean_ref(
    node: dict[str, Any], defs: dict[str, Any], refs: tuple[str, ...], depth: int
) -> dict[str, Any]:
    ref: str = node["$ref"]
    name = ref.rsplit("/", 1)[-1]
    target = defs.get(name) if ref.startswith(("#/$defs/", "#/definitions/")) else None
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    if target is None or ref in refs or depth >= MAX_DEPTH:
        out: dict[str, Any] = {"type": "OBJECT"}
        if isinstance(node.get("description"), str):
            out["description"] = node["description"]
        return out
    return _clean({**_dict(target), **siblings}, defs, (*refs, ref), depth + 1)


def _merge_all_of(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in node.items() if k != "allOf"}
    for sub in node["allOf"]:
        sub = _dict(sub)
        if isinstance(sub.get("$ref"), str):
            sub = {**_dict(defs.get(sub["$ref"].rsplit("/", 1)[-1])), **sub}
            sub.pop("$ref")
        for key, value in sub.items():
            if key == "properties":
                merged["properties"] = {**_dict(merged.get("properties")), **_dict(value)}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _clean_union(
    node: dict[str, Any],
    variants: list[Any],
    defs: dict[str, Any],
    refs: tuple[str, ...],
    depth: int,
) -> dict[str, Any]:
    real = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
    nullable = len(real) < len(variants)
    base = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf", "nullable")}
    literals = _string_literals(real)
    if literals is not None:
        out = _clean({**base, "type": "string", "enum": literals}, defs, refs, depth + 1)
    elif len(real) == 1:
        out = _clean({**_dict(real[0]), **base}, defs, refs, depth + 1)
    else:
        out = {"anyOf": [_clean(v, defs, refs, depth + 1) for v in real]}
        if isinstance(base.get("description"), str):
            out["description"] = base["description"]
    if nullable or node.get("nullable") is True:
        out["nullable"] = True
    return out


def _string_literals(variants: list[Any]) -> list[str] | None:
    """The values of a union of string literals (zod, TypeScript), else None."""
    values: list[str] = []
    for v in variants:
        if not isinstance(v, dict) or not set(v) <= {
            "const",
            "enum",
            "type",
            "description",
            "title",
        }:
            return None
        found = [v["const"]] if "const" in v else v.get("enum")
        if not isinstance(found, list) or not all(isinstance(x, str) for x in found):
            return None
        values.extend(found)
    return values or None


def _split_type(node: dict[str, Any]) -> tuple[str | None, bool, list[str]]:
    """(first type, nullable, further types) of ``node``'s ``type``."""
    raw = node.get("type")
    names = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    names = [n.lower() for n in names if isinstance(n, str)]
    real = [n for n in names if n in _TYPES]
    nullable = "null" in names or node.get("nullable") is True
    if not real:
        return _infer_type(node), nullable, []
    return real[0], nullable, real[1:]


def _infer_type(node: dict[str, Any]) -> str | None:
    if "properties" in node or "required" in node:
        return "object"
    if "items" in node or "prefixItems" in node:
        return "array"
    if "enum" in node or "const" in node:
        return "string"
    return None


def _clean_typed(
    node: dict[str, Any],
    kind: str | None,
    nullable: bool,
    defs: dict[str, Any],
    refs: tuple[str, ...],
    depth: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind is not None:
        out["type"] = kind.upper()
    for key in ("description", "pattern", "propertyOrdering"):
        if key in node and key in GEMINI_KEYS:
            out[key] = node[key]
    _copy_bounds(node, kind, out)
    _copy_enum(node, out)
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(out.get("type", ""), ()):
        out["format"] = fmt
    if kind == "object":
        _object_fields(node, out, defs, refs, depth)
    elif kind == "array":
        items = node.get("items", _first(node.get("prefixItems")))
        out["items"] = _clean(items, defs, refs, depth + 1) if isinstance(items, dict) else {}
        if not out["items"]:
            out["items"] = {"type": "STRING"}
    if nullable:
        out["nullable"] = True
    return out


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else None


def _copy_bounds(node: dict[str, Any], kind: str | None, out: dict[str, Any]) -> None:
    for key in _COUNTS:
        if isinstance(node.get(key), int) and not isinstance(node[key], bool):
            out[key] = node[key]
    step = 1 if kind == "integer" else 0
    for bound, exclusive, sign in _BOUNDS:
        if _is_number(node.get(bound)):
            out[bound] = node[bound]
        elif _is_number(node.get(exclusive)):
            out[bound] = node[exclusive] + sign * step


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _copy_enum(node: dict[str, Any], out: dict[str, Any]) -> None:
    values = node.get("enum")
    if "const" in node:
        values = [node["const"]]
    if not isinstance(values, list):
        return
    if None in values:
        out["nullable"] = True
    values = [v for v in values if v is not None]
    if not values:
        return
    if out.get("type") in (None, "STRING"):
        out["type"] = "STRING"
        out["enum"] = [v if isinstance(v, str) else json.dumps(v) for v in values]
    else:
        # Gemini enums are strings only: keep the type, say the values in words.
        allowed = "Allowed values: " + ", ".join(json.dumps(v) for v in values)
        out["description"] = f"{out['description']}\n{allowed}" if "description" in out else allowed


def _object_fields(
    node: dict[str, Any],
    out: dict[str, Any],
    defs: dict[str, Any],
    refs: tuple[str, ...],
    depth: int,
) -> None:
    props = {
        name: _clean(sub, defs, refs, depth + 1)
        for name, sub in _dict(node.get("properties")).items()
    }
    if props:
        out["properties"] = props
    required = node.get("required")
    if isinstance(required, list):
        names = list(dict.fromkeys(r for r in required if isinstance(r, str) and r in props))
        if names:
            out["required"] = names


# ------------------------------------------------------------ Gemini -> JSON Schema


def from_gemini_schema(schema: Any) -> Any:
    """A Gemini ``Schema`` (upper-case types, ``nullable``) as plain JSON Schema,
    so that other formats can use tool parameters declared for Gemini."""
    if isinstance(schema, list):
        return [from_gemini_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: from_gemini_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "any_of"):
            out["anyOf" if key == "any_of" else key] = from_gemini_schema(value)
        elif key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key not in ("nullable", "propertyOrdering", "property_ordering"):
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


_OPENAPI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_DATA_KEYWORDS = {"enum", "const", "default", "examples", "example"}


def lower_type_names(schema: Any) -> Any:
    """A JSON Schema with OpenAPI's upper-case type names (``"OBJECT"``) in
    lower case. Gemini accepts them in ``responseJsonSchema`` and
    ``parametersJsonSchema`` (Gemini CLI's routing classifier sends them);
    other providers reject them. Data keywords (enum, const...) are kept."""
    if isinstance(schema, list):
        return [lower_type_names(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str | list):  # not a property named "type"
            out[key] = _lower_type(value)
        elif key in _DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = lower_type_names(value)
    return out


def _lower_type(value: str | list[Any]) -> Any:
    if isinstance(value, list):
        return [_lower_type(v) if isinstance(v, str) else v for v in value]
    return value.lower() if value in _OPENAPI_TYPES else value
