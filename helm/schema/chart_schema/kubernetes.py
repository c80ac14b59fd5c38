"""Kubernetes shapes both charts take, under the official Dagster chart's names: the pod settings
each deployment has (nodeSelector, affinity, tolerations, the security contexts, a
PodDisruptionBudget) and container resources. The security contexts may add to the charts'
restricted defaults but not undo them, so the fields that would are constants."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

# Resource quantities by name: "250m", "1Gi" or a number.
Quantities = dict[Literal["cpu", "memory", "ephemeral-storage"], str | float]


def renamed(message: str) -> Any:
    """A value the chart had before it took the official chart's name: refused, and the only value
    the schema would take is the message saying what to write instead, which Helm prints."""
    return Annotated[Any, WithJsonSchema({"enum": [message]})]


def env_map(value: dict[str, Any], name: str = "^[A-Za-z_][A-Za-z0-9_]*$") -> Any:
    """Environment variables by name (propertyNames, not patternProperties: a bad name is refused)."""
    return Annotated[
        dict[str, Any],
        WithJsonSchema({"type": "object", "propertyNames": {"pattern": name}, "additionalProperties": value}),
    ]


class Resources(BaseModel):
    """Container resources; requests and limits are both required."""

    model_config = ConfigDict(extra="forbid")
    requests: Quantities
    limits: Quantities


NodeSelector = dict[str, str]


class Affinity(BaseModel):
    "A deployment's pod affinity (Kubernetes Affinity)."

    model_config = ConfigDict(extra="forbid")
    nodeAffinity: dict[str, Any] | None = None
    podAffinity: dict[str, Any] | None = None
    podAntiAffinity: dict[str, Any] | None = None


class Toleration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None


Tolerations = list[Toleration]


class PodSecurityContext(BaseModel):
    "Merged over the chart's restricted pod securityContext, key by key (Kubernetes PodSecurityContext); runAsNonRoot stays true."

    model_config = ConfigDict(extra="forbid")
    appArmorProfile: dict[str, Any] | None = None
    fsGroup: int | None = None
    fsGroupChangePolicy: Literal["Always", "OnRootMismatch"] | None = None
    runAsGroup: int | None = None
    runAsNonRoot: Literal[True] | None = None
    runAsUser: Annotated[int, Field(ge=1)] | None = None
    seLinuxChangePolicy: str | None = None
    seLinuxOptions: dict[str, Any] | None = None
    seccompProfile: dict[str, Any] | None = None
    supplementalGroups: list[int] | None = None
    supplementalGroupsPolicy: Literal["Merge", "Strict"] | None = None
    sysctls: list[dict[str, Any]] | None = None
    windowsOptions: dict[str, Any] | None = None


class Capabilities(BaseModel):
    model_config = ConfigDict(extra="forbid")
    add: list[str] | None = None
    drop: list[str] | None = None


class SecurityContext(BaseModel):
    "Merged over the chart's restricted container securityContext, key by key (Kubernetes SecurityContext); non-root, a read-only root filesystem and no privilege escalation stay."

    model_config = ConfigDict(extra="forbid")
    allowPrivilegeEscalation: Literal[False] | None = None
    appArmorProfile: dict[str, Any] | None = None
    capabilities: Capabilities | None = None
    privileged: Literal[False] | None = None
    procMount: str | None = None
    readOnlyRootFilesystem: Literal[True] | None = None
    runAsGroup: int | None = None
    runAsNonRoot: Literal[True] | None = None
    runAsUser: Annotated[int, Field(ge=1)] | None = None
    seLinuxOptions: dict[str, Any] | None = None
    seccompProfile: dict[str, Any] | None = None
    windowsOptions: dict[str, Any] | None = None


class PodDisruptionBudget(BaseModel):
    "A deployment's PodDisruptionBudget, off by default; when enabled, exactly one of minAvailable and maxUnavailable."

    model_config = ConfigDict(extra="forbid")
    enabled: bool
    minAvailable: Annotated[
        Any, WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+%$"}]})
    ] = None
    maxUnavailable: Annotated[
        Any, WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+%$"}]})
    ] = None
    unhealthyPodEvictionPolicy: Literal["IfHealthyBudget", "AlwaysAllow"] | None = None


class Probe(BaseModel):
    """A probe's timing. The check itself is the chart's (the gRPC health check of the code
    server); values only tune when and how often it runs."""

    model_config = ConfigDict(extra="forbid")
    initialDelaySeconds: Annotated[int, Field(ge=0)] | None = None
    periodSeconds: Annotated[int, Field(ge=1)] | None = None
    timeoutSeconds: Annotated[int, Field(ge=1)] | None = None
    failureThreshold: Annotated[int, Field(ge=1)] | None = None
    successThreshold: Annotated[int, Field(ge=1)] | None = None


class PodSettings(BaseModel):
    """The keys every Deployment of both charts takes, under the official Dagster chart's names:
    one model, so a key added for one component is there for all of them."""

    model_config = ConfigDict(extra="forbid")
    resources: Resources = Field(description="Container resources; requests and limits are both required.")
    nodeSelector: NodeSelector | None = None
    affinity: Affinity | None = None
    tolerations: Tolerations | None = None
    podSecurityContext: PodSecurityContext | None = None
    securityContext: SecurityContext | None = None
