"""The contract between terraform/ and the charts under helm/, checked offline.

Terraform cannot be planned here (no providers, no registry), so the checks read the HCL with
python-hcl2 and evaluate the *literal* structures that reach the charts: the ``external_secrets``
argument of ``module "platform_release"`` and the bodies of the ``platform_values`` and
``team_values`` outputs, all in ``stack/``, as ``envs/<env>`` calls it. References are resolved where the tree itself knows the answer
(``var.X`` from ``terraform.tfvars`` or the default, literal ``local.X``, the ``for`` variable)
and replaced by placeholders elsewhere (``module.*`` and function calls): a string placeholder,
or a typed value from ``TYPED_REFERENCES`` for the few outputs that are not strings.

Each ``check_*`` function returns a list of human-readable problems (empty: the contract holds),
so the tests can run them on the real tree and on synthetic, broken inputs.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import hcl2
import jsonschema
import pytest
import yaml
from tfcheck import blocks, load_dir, unquote

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
HELM = REPO / "helm"
PLATFORM_CHART = HELM / "platform"
CODE_LOCATION_CHART = HELM / "code-location"
VALUES_DIR = HELM / "values"
SECRET_SYNC_CHART = TERRAFORM / "modules" / "platform_release" / "charts" / "talent-secret-sync"
TEAMS = ("candidates", "jobs", "matching")
ENVS = ("dev", "prod")
KUBE_VERSION = "1.32.0"
NAMESPACE = "talent"

# Module outputs that are not strings. Anything else unresolvable becomes a string placeholder.
TYPED_REFERENCES: dict[str, Any] = {
    "module.database.port": 5432,
}

# dagster-k8s reads this key from the Secret named by the run launcher's postgres_password_secret.
DAGSTER_PG_PASSWORD_KEY = "postgresql-password"

_INTERPOLATION = re.compile(r"\$\{((?:[^{}]|\{[^{}]*\})*)\}")
_REFERENCE = re.compile(r"^(?:var|local|module|each)\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+|\[[^\]]+\])*$")
_SEGMENT = re.compile(r'\.([A-Za-z0-9_\-]+)|\[("?)([^\]"]+)\2\]')
_META_KEYS = {"__comments__", "__inline_comments__", "__is_block__", "__start_line__", "__end_line__"}


# --- tools ---------------------------------------------------------------------------------------


def find_helm() -> str | None:
    local = REPO / ".tools" / "bin" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("helm")


class HelmFailed(RuntimeError):
    pass


def helm_template(chart: Path, release: str, values: Iterable[Path], namespace: str = NAMESPACE) -> list[dict]:
    """`helm template` -> parsed documents; HelmFailed (with helm's stderr) on a non-zero exit."""
    helm = find_helm()
    if helm is None:
        raise FileNotFoundError("helm not found in .tools/bin or on PATH (make tools)")
    args = [helm, "template", release, str(chart), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    for path in values:
        args += ["-f", str(path)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise HelmFailed(proc.stderr.strip())
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


# --- evaluating literal HCL ----------------------------------------------------------------------


def placeholder(expression: str) -> Any:
    """A recognisable stand-in for a value only known after apply."""
    if expression in TYPED_REFERENCES:
        return TYPED_REFERENCES[expression]
    slug = re.sub(r"[^a-z0-9]+", "-", expression.lower()).strip("-")
    return f"tfref-{slug}"


class Context:
    """What an expression can see: variables (tfvars over defaults), literal locals, for-vars."""

    def __init__(
        self, variables: Mapping[str, Any], locals_: Mapping[str, Any], scope: Mapping[str, Any] | None = None
    ):
        self.variables = dict(variables)
        self.locals = dict(locals_)
        self.scope = dict(scope or {})

    def bind(self, **scope: Any) -> Context:
        return Context(self.variables, self.locals, {**self.scope, **scope})


def _walk_path(value: Any, rest: str, expression: str) -> Any:
    for match in _SEGMENT.finditer(rest):
        key = match.group(1) or match.group(3)
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit():
            value = value[int(key)]
        else:
            raise KeyError(f"{expression}: no {key!r}")
    return value


def resolve(expression: str, ctx: Context) -> Any:
    """The value of one HCL expression, or a placeholder when it depends on applied resources."""
    expression = expression.strip()
    if expression == "null":
        return None
    if expression in ("true", "false"):
        return expression == "true"
    if re.fullmatch(r"-?\d+", expression):
        return int(expression)
    # for-variables first, substituted into index expressions: module.x[team] -> module.x["jobs"]
    for name, value in ctx.scope.items():
        if expression == name:
            return value
        if isinstance(value, str):
            expression = re.sub(rf"\[{re.escape(name)}\]", f'["{value}"]', expression)
    keys_of = re.fullmatch(r"keys\(var\.([A-Za-z0-9_\-]+)\)", expression)
    if keys_of:
        return sorted(ctx.variables[keys_of.group(1)])
    if not _REFERENCE.match(expression):
        return placeholder(expression)
    kind, _, rest = expression.partition(".")
    name = re.match(r"[A-Za-z0-9_\-]+", rest).group(0)
    rest = rest[len(name) :]
    if kind == "var":
        return _walk_path(ctx.variables[name], rest, expression)
    if kind == "local":
        return _walk_path(evaluate(ctx.locals[name], ctx), rest, expression)
    return placeholder(expression)


def _template_string(text: str, ctx: Context) -> str:
    def substitute(match: re.Match) -> str:
        value = resolve(match.group(1), ctx)
        return json.dumps(value) if isinstance(value, (dict, list, bool)) or value is None else str(value)

    return _INTERPOLATION.sub(substitute, text)


def evaluate(node: Any, ctx: Context) -> Any:
    """A python-hcl2 node -> plain data: literals kept, templates filled, references resolved."""
    if isinstance(node, dict):
        return {unquote(k): evaluate(v, ctx) for k, v in node.items() if k not in _META_KEYS}
    if isinstance(node, list):
        return [evaluate(v, ctx) for v in node]
    if not isinstance(node, str):
        return node
    if len(node) >= 2 and node[0] == node[-1] == '"':
        return _template_string(node[1:-1].replace('\\"', '"'), ctx)
    whole = re.fullmatch(r"\$\{(.*)\}", node, flags=re.S)
    if whole and _INTERPOLATION.fullmatch(node):
        return resolve(whole.group(1), ctx)
    return node


def evaluate_for_object(expression: str, ctx: Context) -> dict[str, Any]:
    """`{for k in <collection> : k => {<literal object>}}` -> {k: evaluated object} per element."""
    match = re.fullmatch(r"\$\{\{for (\w+) in (.+?) : \1 => (\{.*\})\}\}", expression, flags=re.S)
    if not match:
        raise ValueError(f"not a `for k in ... : k => {{...}}` object expression: {expression[:120]}")
    name, collection, body = match.groups()
    parsed_body = hcl2.loads(f"body = {body}\n")["body"]
    elements = resolve(collection, ctx)
    if isinstance(elements, Mapping):
        elements = list(elements)
    return {element: evaluate(parsed_body, ctx.bind(**{name: element})) for element in elements}


def env_dir(env: str) -> Path:
    return TERRAFORM / "envs" / env


STACK_DIR = TERRAFORM / "stack"


def _locals(parsed: dict[Path, dict]) -> dict[str, Any]:
    locals_: dict[str, Any] = {}
    for doc in parsed.values():
        for entry in doc.get("locals", []):
            locals_.update({k: v for k, v in entry.items() if k not in _META_KEYS})
    return locals_


def root_context(env: str) -> Context:
    """envs/<env>: its variables (terraform.tfvars over the defaults)."""
    directory = env_dir(env)
    parsed = load_dir(directory)
    variables = {name: unquote_tree(body.get("default")) for _, name, body in blocks(parsed, "variable")}
    with (directory / "terraform.tfvars").open() as handle:
        variables.update({k: unquote_tree(v) for k, v in hcl2.load(handle).items() if k not in _META_KEYS})
    return Context(variables, _locals(parsed))


def stack_call(env: str) -> dict[str, Any]:
    """The arguments of envs/<env>'s single `module "stack"` call."""
    bodies = [body for _, label, body in blocks(load_dir(env_dir(env)), "module") if label == "stack"]
    assert len(bodies) == 1, f"envs/{env}: expected one module 'stack'"
    return bodies[0]


def env_context(env: str) -> Context:
    """What stack/ sees when envs/<env> calls it: its defaults, overridden by the root's arguments
    (evaluated in the root); a null argument keeps the default where the variable is not nullable."""
    root = root_context(env)
    parsed = load_dir(STACK_DIR)
    declared = {name: body for _, name, body in blocks(parsed, "variable")}
    variables = {name: unquote_tree(body.get("default")) for name, body in declared.items()}
    for name, argument in stack_call(env).items():
        if name in _META_KEYS or name in ("source", "providers", "depends_on"):
            continue
        assert name in declared, f"envs/{env}: module stack passes undeclared {name!r}"
        value = evaluate(argument, root)
        if value is None and declared[name].get("nullable") is False:
            continue
        variables[name] = value
    return Context(variables, _locals(parsed))


def unquote_tree(node: Any) -> Any:
    if isinstance(node, dict):
        return {unquote(k): unquote_tree(v) for k, v in node.items() if k not in _META_KEYS}
    if isinstance(node, list):
        return [unquote_tree(v) for v in node]
    return unquote(node)


def module_arguments(env: str, module: str) -> dict[str, Any]:
    """A module call of stack/ (the same for every environment; ``env`` names whose values apply)."""
    bodies = [body for _, label, body in blocks(load_dir(STACK_DIR), "module") if label == module]
    assert len(bodies) == 1, f"stack (envs/{env}): expected one module {module!r}"
    return bodies[0]


def terraform_external_secrets(env: str) -> list[dict[str, Any]]:
    """`module "platform_release" { external_secrets = [...] }`, evaluated."""
    raw = module_arguments(env, "platform_release")["external_secrets"]
    assert isinstance(raw, list), "external_secrets must stay a literal list (the contract test reads it)"
    return evaluate(raw, env_context(env))


def _stack_output(env: str, name: str) -> Any:
    """The body of the stack's output ``name``, which envs/<env> must re-export unchanged."""
    root_outputs = {label: body for _, label, body in blocks(load_dir(env_dir(env)), "output")}
    assert root_outputs[name]["value"] == f"${{module.stack.{name}}}", (
        f"envs/{env}: output {name} must re-export the stack's"
    )
    outputs = {label: body for _, label, body in blocks(load_dir(STACK_DIR), "output")}
    return outputs[name]["value"]


def terraform_platform_values(env: str) -> dict[str, Any]:
    """The `platform_values` output, evaluated (the overlay `helm upgrade --install platform` layers)."""
    raw = _stack_output(env, "platform_values")
    assert isinstance(raw, dict), "platform_values must stay a literal object (the contract test reads it)"
    return evaluate(raw, env_context(env))


def terraform_team_values(env: str) -> dict[str, dict[str, Any]]:
    """The `team_values` output per team, evaluated (the shape `terraform output -json` prints)."""
    return evaluate_for_object(_stack_output(env, "team_values"), env_context(env))


def terraform_monitoring_values() -> dict[str, Any]:
    """`local.monitoring_values` of modules/platform_release: kube-prometheus-stack's values."""
    module = TERRAFORM / "modules" / "platform_release"
    parsed = load_dir(module)
    (values,) = [
        e["monitoring_values"] for d in parsed.values() for e in d.get("locals", []) if "monitoring_values" in e
    ]
    text = " ".join((module / "main.tf").read_text().split())
    assert "values = [yamlencode(local.monitoring_values)]" in text, (
        "monitoring release must pass local.monitoring_values"
    )
    return unquote_tree(values)


def variable_default(env: str, name: str) -> Any:
    return env_context(env).variables[name]


# --- Secrets: what Terraform produces and what the charts read -----------------------------------


def produced_secrets(external_secrets: list[dict[str, Any]], tmp_path: Path) -> dict[str, set[str]]:
    """Render the talent-secret-sync chart with these entries: {Secret name: keys it will hold}.

    With a ``target.template`` the operator writes exactly the template's keys; without one, the
    ``data`` secretKeys.
    """
    values = tmp_path / "secret-sync-values.yaml"
    values.write_text(yaml.safe_dump({"region": "eu-west-1", "externalSecrets": external_secrets}))
    produced: dict[str, set[str]] = {}
    for doc in helm_template(SECRET_SYNC_CHART, "talent-secret-sync", [values]):
        if doc["kind"] != "ExternalSecret":
            continue
        target = doc["spec"]["target"]
        name = target.get("name") or doc["metadata"]["name"]
        template = (target.get("template") or {}).get("data")
        keys = set(template) if template else {d["secretKey"] for d in doc["spec"].get("data", [])}
        assert name not in produced, f"two ExternalSecrets write Secret {name!r}"
        produced[name] = keys
    return produced


def _walk(node: Any) -> Iterator[tuple[str | None, Any]]:
    """(key, value) of every mapping entry and list item, descending into embedded JSON/YAML."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield None, item
            yield from _walk(item)
    elif isinstance(node, str) and ("\n" in node or node.lstrip().startswith(("{", "["))):
        try:
            embedded = yaml.safe_load(node)
        except yaml.YAMLError:
            return
        if isinstance(embedded, (Mapping, list)):
            yield from _walk(embedded)


def secret_references(docs: Iterable[Mapping[str, Any]]) -> set[tuple[str, str | None]]:
    """(Secret, key) pairs the rendered manifests read; key None means the whole Secret.

    Covers env ``secretKeyRef``, ``envFrom.secretRef``, ``secret`` volumes, dagster-k8s's
    ``postgres_password_secret`` and ``env_secrets`` (in dagster.yaml), and the same inside JSON
    such as DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT.
    """
    refs: set[tuple[str, str | None]] = set()
    for doc in docs:
        if doc.get("kind") == "Secret":
            continue
        for key, value in _walk(doc):
            if key in ("secretKeyRef", "secret_key_ref") and isinstance(value, Mapping):
                refs.add((value["name"], value["key"]))
            elif key in ("secretRef", "secret_ref") and isinstance(value, Mapping):
                refs.add((value["name"], None))
            elif key == "secret" and isinstance(value, Mapping) and "secretName" in value:
                items = value.get("items") or []
                if items:
                    refs.update((value["secretName"], item["key"]) for item in items)
                else:
                    refs.add((value["secretName"], None))
            elif key == "postgres_password_secret" and isinstance(value, str):
                refs.add((value, DAGSTER_PG_PASSWORD_KEY))
            elif key == "env_secrets" and isinstance(value, list):
                refs.update((v, None) for v in value if isinstance(v, str))
    return refs


def check_secrets(references: Iterable[tuple[str, str | None]], produced: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for name, key in sorted(set(references), key=lambda r: (r[0], r[1] or "")):
        if name not in produced:
            problems.append(
                f"Secret {name!r} is referenced by a chart but Terraform produces no such Secret "
                f"(it produces {sorted(produced)})"
            )
        elif key is not None and key not in produced[name]:
            problems.append(f"Secret {name!r} has no key {key!r} (Terraform writes {sorted(produced[name])})")
    return problems


# --- values against the charts' schemas ----------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def helm_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of values files: maps merge key by key, anything else replaces, null deletes."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = helm_merge(merged.get(key), value)
        return merged
    return copy.deepcopy(override)


def without_required(schema: Any) -> Any:
    """The schema minus every `required` (and minItems): validates a partial overlay on its own."""
    if isinstance(schema, Mapping):
        return {k: without_required(v) for k, v in schema.items() if k not in ("required", "minItems")}
    if isinstance(schema, list):
        return [without_required(v) for v in schema]
    return schema


def schema_errors(instance: Any, schema: Mapping[str, Any], label: str) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{label}: {'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def check_values(chart: Path, layers: list[Any], overlay: Mapping[str, Any], label: str) -> list[str]:
    """``overlay`` on its own (every key known, every type right) and the values Helm would merge
    (chart defaults, then ``layers``, then the overlay) against the chart's values.schema.json."""
    schema = json.loads((chart / "values.schema.json").read_text())
    merged = load_yaml(chart / "values.yaml")
    for layer in [*layers, overlay]:
        merged = helm_merge(merged, layer)
    return schema_errors(overlay, without_required(schema), f"{label} (alone)") + schema_errors(
        merged, schema, f"{label} (merged)"
    )


def write_overlays(team_values: Mapping[str, Mapping[str, Any]], directory: Path, env: str) -> dict[str, Path]:
    """What terraform/README.md does with `output -json team_values`: one JSON (= YAML) file per team."""
    paths = {}
    for team, values in team_values.items():
        path = directory / f"{team}.infra-{env}.yaml"
        path.write_text(json.dumps(values, indent=2))
        paths[team] = path
    return paths


def _set_path(name: str) -> list[str]:
    """`a.b\\.c[0].d` (helm --set syntax) -> ["a", "b.c", "0", "d"]."""
    parts, current, i = [], "", 0
    while i < len(name):
        char = name[i]
        if char == "\\" and i + 1 < len(name):
            current += name[i + 1]
            i += 2
            continue
        if char == ".":
            parts.append(current)
            current = ""
        elif char == "[":
            parts.append(current)
            current = name[i + 1 : name.index("]", i)]
            i = name.index("]", i)
        else:
            current += char
        i += 1
    parts.append(current)
    return [p for p in parts if p != ""]


def check_set_blocks(names: Iterable[str], schema: Mapping[str, Any]) -> list[str]:
    """Every `set { name = ... }` of a helm_release must address a key the schema allows."""
    problems = []
    for name in names:
        node: Any = schema
        for part in _set_path(name):
            if node.get("type") == "array" or "items" in node:
                node = node.get("items", {})
                if part.isdigit():
                    continue
            properties = node.get("properties", {})
            if part in properties:
                node = properties[part]
            elif isinstance(node.get("additionalProperties"), Mapping):
                node = node["additionalProperties"]
            elif node.get("additionalProperties") is False:
                problems.append(f"set {name!r}: {part!r} is not a key of the chart's values.schema.json")
                break
            else:
                break
    return problems


_GO_FIELD = re.compile(r"\{\{-?\s*\.([A-Za-z0-9_-]+)")


def check_templates(external_secrets: Iterable[Mapping[str, Any]]) -> list[str]:
    """A template may only read the keys its ExternalSecret fetches (`{{ .username }}` needs a
    data entry with secretKey username), else the operator renders an error or an empty value."""
    problems = []
    for entry in external_secrets:
        keys = {d["secretKey"] for d in entry.get("data") or []}
        for target_key, template in (entry.get("template") or {}).items():
            for field in _GO_FIELD.findall(template):
                if field not in keys:
                    problems.append(
                        f"{entry['name']}.{target_key}: template reads .{field}, "
                        f"which is not among the fetched keys {sorted(keys)}"
                    )
    return problems


# --- Grafana dashboard folders ---------------------------------------------------------------------


def check_dashboard_folders(sidecar: Mapping[str, Any], docs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Problems that would put a dashboard ConfigMap anywhere but in the folder it names.

    The Grafana chart's sidecar writes a ConfigMap carrying the annotation ``folderAnnotation``
    into a subdirectory named by its value, and only a provider with ``foldersFromFilesStructure``
    (and no fixed ``folder``, which overrides it) turns that directory into a Grafana folder."""
    problems = []
    annotation = sidecar.get("folderAnnotation")
    provider = sidecar.get("provider") or {}
    if not annotation:
        problems.append("grafana.sidecar.dashboards.folderAnnotation is not set: every dashboard lands in General")
    if provider.get("foldersFromFilesStructure") is not True:
        problems.append("grafana.sidecar.dashboards.provider.foldersFromFilesStructure is not true")
    if provider.get("folder"):
        problems.append("grafana.sidecar.dashboards.provider.folder is set: it overrides every annotation")
    label, value = sidecar["label"], str(sidecar["labelValue"])
    loaded = [
        d for d in docs if d["kind"] == "ConfigMap" and str((d["metadata"].get("labels") or {}).get(label)) == value
    ]
    if not loaded:
        problems.append(f"no ConfigMap labelled {label}={value}: the sidecar loads nothing")
    for config_map in loaded:
        folder = (config_map["metadata"].get("annotations") or {}).get(annotation or "")
        if not folder:
            problems.append(f"ConfigMap {config_map['metadata']['name']} names no folder in annotation {annotation!r}")
    return problems


def require_helm() -> None:
    """Skip without helm on a developer's machine; fail in CI, where a skipped chart test hides a gap."""
    if find_helm() is None:
        message = "helm not found in .tools/bin or on PATH (make tools)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set)")
        pytest.skip(message)
