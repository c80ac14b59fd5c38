"""Parse-level checks of the Terraform tree (python-hcl2): no providers, no network.

Each ``check_*`` function returns a list of human-readable problems; an empty list means
the directory passes. The tests run them on every module and root stack, and on small
synthetic modules to prove that each check can fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2

# <namespace>/<name>/<provider>[//subdir], optionally behind a registry host name.
REGISTRY_SOURCE = re.compile(r"^([a-z0-9.-]+\.[a-z]+/)?[\w-]+/[\w-]+/[\w-]+(//.*)?$")
EXACT_VERSION = re.compile(r"^=?\s*\d+\.\d+\.\d+$")
VAR_REF = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals; drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_dir(directory: Path) -> dict[Path, dict]:
    """Parse every .tf file directly in ``directory`` (not recursive, like Terraform)."""
    parsed = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed[path] = hcl2.load(handle)
    return parsed


def blocks(parsed: dict[Path, dict], kind: str) -> Iterator[tuple[Path, str, dict]]:
    """Yield (file, label, body) for each top-level block of ``kind`` (variable, module, ...)."""
    for path, doc in parsed.items():
        for entry in doc.get(kind, []):
            for label, body in entry.items():
                if label.startswith("__"):
                    continue
                yield path, unquote(label), body


def strings(node: Any) -> Iterator[str]:
    """Every string (expressions included) in a parsed document, comments excluded."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("__comments__", "__inline_comments__"):
                continue
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def referenced_variables(parsed: dict[Path, dict]) -> set[str]:
    refs: set[str] = set()
    for doc in parsed.values():
        for text in strings(doc):
            refs.update(VAR_REF.findall(text))
    return refs


def check_variables(directory: Path) -> list[str]:
    """Every variable has description and type, is used, and every var.X is declared."""
    parsed = load_dir(directory)
    problems = []
    declared = {}
    for path, name, body in blocks(parsed, "variable"):
        declared[name] = path
        for attribute in ("description", "type"):
            if attribute not in body or not unquote(body[attribute]):
                problems.append(f"{directory}: variable {name!r} has no {attribute}")
    used = referenced_variables(parsed)
    for name in sorted(set(declared) - used):
        problems.append(f"{directory}: variable {name!r} is declared but never used")
    for name in sorted(used - set(declared)):
        problems.append(f"{directory}: var.{name} is used but not declared")
    return problems


def check_outputs(directory: Path) -> list[str]:
    return [
        f"{directory}: output {name!r} has no description"
        for _, name, body in blocks(load_dir(directory), "output")
        if not unquote(body.get("description", ""))
    ]


def check_module_pins(directory: Path) -> list[str]:
    """Registry modules carry an exact version; local modules carry none; git refs are pinned."""
    problems = []
    for _, name, body in blocks(load_dir(directory), "module"):
        source = unquote(body.get("source", ""))
        version = unquote(body.get("version"))
        if source.startswith(("./", "../")):
            if version is not None:
                problems.append(f"{directory}: local module {name!r} must not set version")
        elif REGISTRY_SOURCE.match(source):
            if version is None:
                problems.append(f"{directory}: registry module {name!r} ({source}) has no version")
            elif not EXACT_VERSION.match(str(version)):
                problems.append(f"{directory}: registry module {name!r} version {version!r} is not an exact pin")
        elif "?ref=" not in source:
            problems.append(f"{directory}: module {name!r} source {source!r} is not pinned to a ref")
    return problems


def required_providers(directory: Path) -> dict[str, dict]:
    providers = {}
    for doc in load_dir(directory).values():
        for terraform in doc.get("terraform", []):
            for block in terraform.get("required_providers", []):
                for name, spec in block.items():
                    if not name.startswith("__"):
                        providers[name] = spec if isinstance(spec, dict) else {}
    return providers


def check_provider_pins(directory: Path, exact: bool) -> list[str]:
    """Every provider has source and version; exact pins in roots, lower bounds in modules."""
    problems = []
    providers = required_providers(directory)
    if not providers:
        problems.append(f"{directory}: no required_providers block")
    for name, spec in providers.items():
        source = unquote(spec.get("source"))
        version = unquote(spec.get("version"))
        if not source:
            problems.append(f"{directory}: provider {name!r} has no source")
        if not version:
            problems.append(f"{directory}: provider {name!r} has no version constraint")
        elif exact and not EXACT_VERSION.match(version):
            problems.append(f"{directory}: provider {name!r} version {version!r} is not an exact pin")
        elif not exact and ">=" not in version:
            problems.append(f"{directory}: provider {name!r} version {version!r} has no lower bound")
    return problems
