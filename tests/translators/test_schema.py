"""clean_schema: client JSON Schemas become what Gemini's Schema accepts.

The judge is google-genai's own ``types.Schema`` (a pydantic model with
``extra="forbid"`` mirroring Gemini's Schema message): a key Gemini would
reject with "Unknown name ... Cannot find field" fails its validation too.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.genai import types as gtypes
from hypothesis import given, settings
from hypothesis import strategies as st
from omniroute_mitm.translators.schema import clean_schema, from_gemini_schema


def _judge(schema: dict[str, Any]) -> None:
    gtypes.Schema.model_validate(schema)
    _check_rules(schema)


def _check_rules(node: dict[str, Any]) -> None:
    """Rules the SDK model does not check but the API does."""
    kind = node.get("type")
    assert isinstance(kind, str | None)
    if "properties" in node or "required" in node:
        assert kind == "OBJECT"
        assert node.get("properties"), "empty properties is rejected"
        assert set(node.get("required", [])) <= set(node["properties"])
    if "items" in node:
        assert kind == "ARRAY"
    if kind == "ARRAY":
        assert node.get("items")
    if "enum" in node:
        assert kind == "STRING" and all(isinstance(v, str) for v in node["enum"])
    if "anyOf" in node:
        assert set(node) <= {"anyOf", "description", "nullable"}
    for sub in [*node.get("properties", {}).values(), *node.get("anyOf", [])]:
        _check_rules(sub)
    if isinstance(node.get("items"), dict):
        _check_rules(node["items"])


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "drops keywords Gemini rejects",
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": "x",
            "type": "object",
            "additionalProperties": False,
            "properties": {"a": {"type": "string", "examples": ["x"], "default": "y"}},
            "patternProperties": {"^x": {}},
            "propertyNames": {"pattern": "^a"},
        },
        {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
    ),
    (
        "nullable type list",
        {"type": "object", "properties": {"a": {"type": ["integer", "null"]}}},
        {"type": "OBJECT", "properties": {"a": {"type": "INTEGER", "nullable": True}}},
    ),
    (
        "several types become anyOf",
        {"type": ["string", "number"], "description": "d"},
        {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}], "description": "d"},
    ),
    (
        "anyOf [X, null] becomes X nullable",
        {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
            "description": "when",
        },
        {"type": "STRING", "format": "date-time", "description": "when", "nullable": True},
    ),
    (
        "const becomes enum",
        {"const": "fixed"},
        {"type": "STRING", "enum": ["fixed"]},
    ),
    (
        "a union of string literals becomes one enum",
        {"oneOf": [{"const": "a"}, {"const": "b"}, {"type": "string", "enum": ["c"]}]},
        {"type": "STRING", "enum": ["a", "b", "c"]},
    ),
    (
        "exclusive bounds become inclusive ones",
        {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        {"type": "INTEGER", "minimum": 1, "maximum": 9},
    ),
    (
        "unsupported string formats are dropped",
        {"type": "string", "format": "uri", "minLength": 2},
        {"type": "STRING", "minLength": 2},
    ),
    (
        "numeric enum is described, not sent",
        {"type": "integer", "enum": [1, 2], "description": "level"},
        {"type": "INTEGER", "description": "level\nAllowed values: 1, 2"},
    ),
    (
        "required entries must be declared properties",
        {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a", "ghost"]},
        {"type": "OBJECT", "properties": {"a": {"type": "BOOLEAN"}}, "required": ["a"]},
    ),
    (
        "empty object loses its empty properties",
        {"type": "object", "properties": {}, "required": []},
        {"type": "OBJECT"},
    ),
    (
        "array without items gets string items",
        {"type": "array"},
        {"type": "ARRAY", "items": {"type": "STRING"}},
    ),
    (
        "missing type is inferred from the shape",
        {"properties": {"x": {"items": {"type": "number"}}}},
        {"type": "OBJECT", "properties": {"x": {"type": "ARRAY", "items": {"type": "NUMBER"}}}},
    ),
    (
        "properties and items only where the type allows them",
        {"type": "string", "properties": {"a": {}}, "items": {"type": "string"}},
        {"type": "STRING"},
    ),
    (
        "allOf is merged",
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "number"}}, "required": ["b"]},
            ]
        },
        {
            "type": "OBJECT",
            "properties": {"a": {"type": "STRING"}, "b": {"type": "NUMBER"}},
            "required": ["a", "b"],
        },
    ),
    (
        "a property named like a keyword is kept",
        {
            "type": "object",
            "properties": {"default": {"type": "string"}, "$ref": {"type": "string"}},
        },
        {
            "type": "OBJECT",
            "properties": {"default": {"type": "STRING"}, "$ref": {"type": "STRING"}},
        },
    ),
]


@pytest.mark.parametrize(("schema", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_clean_schema_table(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    original = copy.deepcopy(schema)
    cleaned = clean_schema(schema, "gemini")
    assert cleaned == expected
    assert schema == original, "the input must not be mutated"
    _judge(cleaned)


def test_refs_are_inlined_and_cycles_cut() -> None:
    schema = {
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node", "description": "the root"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "legacy": {"$ref": "#/definitions/Old"},
                },
            }
        },
        "definitions": {"Old": {"type": "boolean"}},
    }
    cleaned = clean_schema(schema, "gemini")
    root = cleaned["properties"]["root"]
    assert root["description"] == "the root"
    assert root["properties"]["name"] == {"type": "STRING"}
    assert root["properties"]["legacy"] == {"type": "BOOLEAN"}
    # The recursion is cut where the reference repeats.
    assert root["properties"]["children"]["items"] == {"type": "OBJECT"}
    _judge(cleaned)


def test_unknown_reference_becomes_object() -> None:
    cleaned = clean_schema(
        {"type": "object", "properties": {"a": {"$ref": "other.json#/x"}}}, "gemini"
    )
    assert cleaned["properties"]["a"] == {"type": "OBJECT"}


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="target"):
        clean_schema({}, "cobol")


def test_claude_code_style_tool_schema_is_accepted() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "command": {"type": "string", "description": "The command"},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600000},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "todos": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "done": {"type": "boolean"}},
                    "required": ["id"],
                    "additionalProperties": False,
                },
                "minItems": 1,
            },
        },
        "required": ["command"],
    }
    cleaned = clean_schema(schema, "gemini")
    _judge(cleaned)
    assert cleaned["properties"]["timeout"] == {"type": "NUMBER", "minimum": 0, "maximum": 600000}
    assert cleaned["properties"]["env"] == {"type": "OBJECT"}


def test_from_gemini_schema_gives_plain_json_schema() -> None:
    gemini = {
        "type": "OBJECT",
        "properties": {
            "a": {"type": "STRING", "nullable": True},
            "b": {"type": "ARRAY", "items": {"type": "INTEGER"}},
        },
        "required": ["a"],
        "propertyOrdering": ["a", "b"],
    }
    assert from_gemini_schema(gemini) == {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "null"]},
            "b": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["a"],
    }


# Random JSON-Schema-like input, including keywords Gemini rejects.
_leaf_types = st.sampled_from(["string", "number", "integer", "boolean", "null", "array", "object"])
_noise = st.fixed_dictionaries(
    {},
    optional={
        "$schema": st.just("http://json-schema.org/draft-07/schema#"),
        "additionalProperties": st.booleans(),
        "format": st.sampled_from(["uri", "email", "date-time", "int64", "float"]),
        "const": st.one_of(st.text(max_size=3), st.integers()),
        "enum": st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=3),
        "exclusiveMinimum": st.integers(-5, 5),
        "default": st.integers(),
        "title": st.text(max_size=5),
        "description": st.text(max_size=5),
        "minItems": st.integers(0, 3),
        "x-extension": st.booleans(),
    },
)


def _schemas() -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.builds(
        lambda t, noise: {**noise, "type": t},
        st.one_of(_leaf_types, st.lists(_leaf_types, min_size=1, max_size=3)),
        _noise,
    )

    def extend(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        props = st.dictionaries(st.sampled_from(["a", "b", "$ref", "type"]), inner, max_size=3)
        return st.one_of(
            st.builds(
                lambda p, r: {"type": "object", "properties": p, "required": r},
                props,
                st.lists(st.sampled_from(["a", "b", "zz"]), max_size=2),
            ),
            st.builds(lambda i: {"type": "array", "items": i}, inner),
            st.builds(lambda v: {"anyOf": v}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda v: {"oneOf": v}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda v: {"allOf": v}, st.lists(inner, min_size=1, max_size=2)),
        )

    return st.recursive(leaf, extend, max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(schema=_schemas())
def test_any_schema_cleans_into_something_gemini_accepts(schema: dict[str, Any]) -> None:
    original = copy.deepcopy(schema)
    cleaned = clean_schema(schema, "gemini")
    assert schema == original
    _judge(cleaned)
