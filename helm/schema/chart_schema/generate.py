"""The JSON schema Helm validates values against, from the pydantic models: draft-07 with
`definitions` (Helm and the Terraform contract tests read that draft), no titles or defaults (the
defaults live in values.yaml), and an optional field that is simply absent, never null."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from .code_location import CodeLocationValues
from .platform import PlatformValues

HELM_DIR = Path(__file__).resolve().parents[2]
CHARTS: dict[str, tuple[type[BaseModel], str]] = {
    "platform": (PlatformValues, "talent platform chart values"),
    "code-location": (CodeLocationValues, "talent code-location chart values"),
}


class HelmJsonSchema(GenerateJsonSchema):
    def nullable_schema(self, schema: Any) -> Any:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: Any) -> Any:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: Any) -> Any:
        generated = super().model_schema(schema)
        generated.pop("title", None)
        return generated


def _refs(node: Any, counts: dict[str, int]) -> None:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            counts[name] = counts.get(name, 0) + 1
        for value in node.values():
            _refs(value, counts)
    elif isinstance(node, list):
        for value in node:
            _refs(value, counts)


def _inline(node: Any, definitions: dict[str, Any], once: set[str]) -> Any:
    """Each block written where it is used, as a reader of values.yaml looks for it; a shape used
    in several places (resources, the pod settings) stays one definition."""
    if isinstance(node, dict):
        ref = node.get("$ref", "").rsplit("/", 1)[-1]
        if ref in once:
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _inline({**definitions[ref], **rest}, definitions, once)
        return {k: _inline(v, definitions, once) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, definitions, once) for v in node]
    return node


def schema(chart: str) -> dict[str, Any]:
    model, title = CHARTS[chart]
    generated = model.model_json_schema(
        by_alias=True, ref_template="#/definitions/{model}", schema_generator=HelmJsonSchema
    )
    definitions = generated.pop("$defs", {})
    generated.pop("description", None)
    counts: dict[str, int] = {}
    _refs([generated, definitions], counts)
    once = {name for name, n in counts.items() if n == 1}
    generated = _inline(generated, definitions, once)
    definitions = {k: _inline(v, definitions, once) for k, v in definitions.items() if k not in once}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": title,
        **generated,
        **({"definitions": dict(sorted(definitions.items()))} if definitions else {}),
    }


def render(chart: str) -> str:
    return json.dumps(schema(chart), indent=2) + "\n"
