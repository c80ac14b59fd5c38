"""The values of helm/code-location: one entry of the official chart's
dagster-user-deployments.deployments[] at the top level (name, image, dagsterApiGrpcArgs, port,
replicaCount, resources, pod settings, probes, env, volumes), plus what only a team release has
(its platform, secretEnv, runs, networkPolicy). values.schema.json is generated from these."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from .kubernetes import (
    PodDisruptionBudget,
    PodSettings,
    Probe,
    Resources,
    env_map,
    renamed,
)


def moved_to_top(what: str) -> Any:
    return renamed(
        f"{what} (an entry of the official Dagster chart's dagster-user-deployments.deployments[], at the top "
        "level): move the values there, helm/README.md 'Coming from the official chart'"
    )


class Volume(BaseModel):
    """Raw Kubernetes Volume: only its name is checked here, the API server checks the rest."""

    model_config = ConfigDict(extra="allow")
    name: str


class VolumeMount(BaseModel):
    """Raw Kubernetes VolumeMount: name and mountPath are checked here, the API server checks the rest."""

    model_config = ConfigDict(extra="allow")
    name: str
    mountPath: str


class CodeLocationImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repository: str
    tag: str
    digest: Annotated[str, Field(pattern="^(|sha256:[a-f0-9]{64})$")] | None = None
    pullPolicy: Literal["Always", "IfNotPresent", "Never"]


class CodeLocationImagePullSecretsItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class CodeLocationPlatform(BaseModel):
    model_config = ConfigDict(extra="forbid")
    postgresqlSecretName: str = Field(description="Secret with key postgresql-password.")
    databaseCaConfigMap: str | None = Field(
        None, description="The platform's postgresql.caConfigMap, mounted at /etc/talent/db-ca."
    )


class CodeLocationServiceAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotations: dict[str, str] | None = None


class CodeLocationRbac(BaseModel):
    model_config = ConfigDict(extra="forbid")
    create: bool


class CodeLocationRuns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resources: Resources = Field(description="Container resources; requests and limits are both required.")
    labels: dict[str, str] | None = None


class CodeLocationNetworkPolicyDatabase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: list[dict[str, Any]] = Field(description="NetworkPolicyPeer list.")
    port: Annotated[int, Field(ge=1, le=65535)]


class CodeLocationNetworkPolicyApiServer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: list[dict[str, Any]] = Field(description="NetworkPolicyPeer list.")
    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(min_length=1)]


class CodeLocationNetworkPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    platformSelector: dict[str, str] | None = None
    database: CodeLocationNetworkPolicyDatabase | None = None
    apiServer: CodeLocationNetworkPolicyApiServer | None = None
    httpsTo: list[dict[str, Any]] | None = Field(None, description="NetworkPolicyPeer list.")


class CodeLocationValues(PodSettings):
    model_config = ConfigDict(extra="forbid")
    global_: dict[str, Any] | None = Field(None, alias="global")
    nameOverride: str | None = None
    fullnameOverride: Annotated[str, Field(max_length=50, pattern="^(|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")] | None = None
    name: Annotated[str, Field(pattern="^(|[a-z][a-z0-9_-]{0,62})$")] = Field(
        description="Dagster location name (the official chart's deployments[].name)."
    )
    dagsterApiGrpcArgs: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "array",
                "items": [
                    {"enum": ["-m", "--module-name"]},
                    {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$"},
                ],
                "maxItems": 2,
            }
        ),
    ]
    image: CodeLocationImage
    imagePullSecrets: list[CodeLocationImagePullSecretsItem] | None = None
    runAsUser: Annotated[int, Field(ge=1)] | None = None
    runAsGroup: Annotated[int, Field(ge=1)] | None = None
    platform: CodeLocationPlatform
    serviceAccount: CodeLocationServiceAccount | None = None
    rbac: CodeLocationRbac | None = None
    env: env_map({"type": ["string", "integer", "number", "boolean"]}) = None
    secretEnv: env_map(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "secretName": {"type": "string", "minLength": 1},
                "key": {"type": "string", "minLength": 1},
            },
            "required": ["secretName", "key"],
        }
    ) = None
    volumes: list[Volume] | None = None
    volumeMounts: list[VolumeMount] | None = None
    port: Annotated[int, Field(ge=1, le=65535)]
    replicaCount: Annotated[int, Field(ge=1)]
    startupProbe: Probe | None = None
    readinessProbe: Probe | None = None
    livenessProbe: Probe | None = None
    podDisruptionBudget: PodDisruptionBudget | None = None
    runs: CodeLocationRuns
    networkPolicy: CodeLocationNetworkPolicy | None = None
    location: moved_to_top('location.name is now name and location.module is dagsterApiGrpcArgs: ["-m", <module>]') = (
        None
    )
    codeServer: moved_to_top("codeServer's keys are now at the top level (replicas is replicaCount)") = None
    extraVolumes: moved_to_top("extraVolumes is now volumes") = None
    extraVolumeMounts: moved_to_top("extraVolumeMounts is now volumeMounts") = None
