"""The values of helm/platform: the official Dagster chart's blocks where both configure the same
thing (dagsterWebserver, dagsterDaemon, runLauncher, computeLogManager, ingress, retention,
additionalInstanceConfig), and the platform's own. values.schema.json is generated from these
(python -m chart_schema); the names before the official ones are refused with their new name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from .kubernetes import (
    PodDisruptionBudget,
    PodSettings,
    Resources,
    env_map,
    renamed,
)


class TickRetention(BaseModel):
    "Days before ticks are purged: one number for every status, or one per status; -1 keeps them."

    model_config = ConfigDict(extra="forbid")
    purgeAfterDays: Annotated[
        Any,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": -1},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "skipped": {"type": "integer", "minimum": -1},
                            "success": {"type": "integer", "minimum": -1},
                            "failure": {"type": "integer", "minimum": -1},
                            "started": {"type": "integer", "minimum": -1},
                        },
                    },
                ]
            }
        ),
    ]


class PlatformImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repository: str = Field(description="Image repository.")
    tag: str = Field(description="Immutable image tag.")
    digest: Annotated[str, Field(pattern="^(|sha256:[a-f0-9]{64})$")] | None = Field(
        None, description="Optional sha256 digest."
    )
    pullPolicy: Literal["Always", "IfNotPresent", "Never"]


class PlatformImagePullSecretsItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class PlatformPostgresql(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(description="Postgres host of the Dagster instance.")
    port: Annotated[int, Field(ge=1, le=65535)]
    database: Annotated[str, Field(min_length=1)]
    username: Annotated[str, Field(min_length=1)]
    secretName: str = Field(description="Secret with key postgresql-password.")
    scheme: Literal["postgresql+psycopg2", "postgresql"] = Field(
        description="Keep postgresql+psycopg2 (dagster#33958)."
    )
    params: dict[str, Annotated[Any, WithJsonSchema({"type": ["string", "integer", "boolean"]})]] | None = None
    eventBatchSize: Annotated[int, Field(ge=0)] | None = Field(
        None, description="DAGSTER_EVENT_BATCH_SIZE; 0 writes one event at a time."
    )
    caConfigMap: str | None = Field(
        None, description="ConfigMap with the database CA bundle (key ca.pem), mounted at /etc/talent/db-ca."
    )


class PlatformAppDatabaseUrlSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    key: Annotated[str, Field(min_length=1)]


class PlatformApp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    databaseUrlSecret: PlatformAppDatabaseUrlSecret
    env: env_map({"type": ["string", "integer", "number", "boolean"]}, name="^[A-Z_][A-Z0-9_]*$")


class PlatformDagsterWebserverService(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"]
    port: Annotated[int, Field(ge=1, le=65535)]


class PlatformDagsterWebserverWorkspaceServersItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern="^[a-z][a-z0-9_-]{0,62}$")] = Field(description="Dagster location name.")
    host: Annotated[str, Field(max_length=63, pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = Field(
        description="Service name of the team release."
    )
    port: Annotated[int, Field(ge=1, le=65535)]
    secrets: list[Annotated[str, Field(pattern="^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]] | None = Field(
        None,
        description="Secrets this team's Jobs and pods may read besides teamIsolation.sharedSecrets and postgresql.secretName; default [talent-db-<name>].",
    )


class PlatformDagsterWebserverWorkspace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: Literal[True] = Field(description="Always true: the workspace is the servers listed here.")
    servers: Annotated[list[PlatformDagsterWebserverWorkspaceServersItem], Field(min_length=1)]


class PlatformDagsterWebserver(PodSettings):
    model_config = ConfigDict(extra="forbid")
    replicaCount: Annotated[int, Field(ge=1)]
    port: Annotated[int, Field(ge=1, le=65535)]
    pathPrefix: Annotated[str, Field(pattern="^(|/[A-Za-z0-9/_-]*[A-Za-z0-9_-])$")] | None = None
    service: PlatformDagsterWebserverService
    podDisruptionBudget: PodDisruptionBudget | None = None
    workspace: PlatformDagsterWebserverWorkspace = Field(
        description="The workspace, as the official chart's dagsterWebserver.workspace: one gRPC server per team release."
    )
    replicas: renamed(
        "dagsterWebserver.replicas is now dagsterWebserver.replicaCount (the official Dagster chart's shape): move the value there"
    ) = None


class PlatformIngressDagsterWebserverTls(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    secretName: str | None = None


class PlatformIngressDagsterWebserverPrecedingPathsItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    pathType: Literal["Exact", "Prefix", "ImplementationSpecific"]
    serviceName: Annotated[str, Field(min_length=1)]
    servicePort: Annotated[
        Any,
        WithJsonSchema(
            {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "minLength": 1}]}
        ),
    ]


class PlatformIngressDagsterWebserverSucceedingPathsItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    pathType: Literal["Exact", "Prefix", "ImplementationSpecific"]
    serviceName: Annotated[str, Field(min_length=1)]
    servicePort: Annotated[
        Any,
        WithJsonSchema(
            {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "minLength": 1}]}
        ),
    ]


class PlatformIngressDagsterWebserver(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str | None = None
    path: str | None = None
    pathType: Literal["Exact", "Prefix", "ImplementationSpecific"]
    tls: PlatformIngressDagsterWebserverTls
    precedingPaths: list[PlatformIngressDagsterWebserverPrecedingPathsItem] | None = None
    succeedingPaths: list[PlatformIngressDagsterWebserverSucceedingPathsItem] | None = None


class PlatformIngress(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    ingressClassName: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    dagsterWebserver: PlatformIngressDagsterWebserver


class PlatformDagsterDaemonRunCoordinatorConfigQueuedRunCoordinatorTagConcurrencyLimitsItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: Annotated[str, Field(min_length=1)]
    value: Annotated[
        Any,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"applyLimitPerUniqueValue": {"type": "boolean"}},
                        "required": ["applyLimitPerUniqueValue"],
                    },
                ]
            }
        ),
    ] = None
    limit: Annotated[int, Field(ge=0)]


class PlatformDagsterDaemonRunCoordinatorConfigQueuedRunCoordinator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    maxConcurrentRuns: Annotated[int, Field(ge=-1)]
    tagConcurrencyLimits: (
        list[PlatformDagsterDaemonRunCoordinatorConfigQueuedRunCoordinatorTagConcurrencyLimitsItem] | None
    ) = None
    dequeueUseThreads: bool
    dequeueNumWorkers: Annotated[int, Field(ge=1)]
    perCodeLocationLimit: Annotated[int, Field(ge=1)] = Field(
        description="Not in the official chart: at most this many runs per code location (dagster/code_location tag)."
    )


class PlatformDagsterDaemonRunCoordinatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queuedRunCoordinator: PlatformDagsterDaemonRunCoordinatorConfigQueuedRunCoordinator


class PlatformDagsterDaemonRunCoordinator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: Literal[True]
    type: Literal["QueuedRunCoordinator"]
    config: PlatformDagsterDaemonRunCoordinatorConfig
    maxConcurrentRuns: renamed(
        "dagsterDaemon.runCoordinator.maxConcurrentRuns is now dagsterDaemon.runCoordinator.config.queuedRunCoordinator.maxConcurrentRuns (the official Dagster chart's shape): move the value there"
    ) = None
    perCodeLocationLimit: renamed(
        "dagsterDaemon.runCoordinator.perCodeLocationLimit is now dagsterDaemon.runCoordinator.config.queuedRunCoordinator.perCodeLocationLimit (the official Dagster chart's shape): move the value there"
    ) = None
    extraTagConcurrencyLimits: renamed(
        "dagsterDaemon.runCoordinator.extraTagConcurrencyLimits is now dagsterDaemon.runCoordinator.config.queuedRunCoordinator.tagConcurrencyLimits (the official Dagster chart's shape): move the value there"
    ) = None


class PlatformDagsterDaemonRunMonitoring(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    startTimeoutSeconds: Annotated[int, Field(ge=1)]
    cancelTimeoutSeconds: Annotated[int, Field(ge=1)] | None = None
    pollIntervalSeconds: Annotated[int, Field(ge=1)] | None = None
    maxResumeRunAttempts: Annotated[int, Field(ge=0)] | None = None


class PlatformDagsterDaemonRunRetries(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    maxRetries: Annotated[int, Field(ge=0)]
    retryOnAssetOrOpFailure: bool | None = None


class PlatformDagsterDaemon(PodSettings):
    model_config = ConfigDict(extra="forbid")
    runCoordinator: PlatformDagsterDaemonRunCoordinator = Field(
        description="The official chart's runCoordinator; always the QueuedRunCoordinator."
    )
    runMonitoring: PlatformDagsterDaemonRunMonitoring
    runRetries: PlatformDagsterDaemonRunRetries
    poolDefaultLimit: Annotated[Any, WithJsonSchema({"type": ["integer", "null"], "minimum": 1})] = None


class PlatformRunLauncherConfigK8sRunLauncherRunK8sConfigJobSpecConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    ttlSecondsAfterFinished: Annotated[int, Field(ge=0)]
    backoffLimit: Annotated[int, Field(ge=0)] | None = None


class PlatformRunLauncherConfigK8sRunLauncherRunK8sConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    containerConfig: dict[str, Any] | None = None
    podSpecConfig: dict[str, Any] | None = None
    podTemplateSpecMetadata: dict[str, Any] | None = None
    jobMetadata: dict[str, Any] | None = None
    jobSpecConfig: PlatformRunLauncherConfigK8sRunLauncherRunK8sConfigJobSpecConfig = Field(
        description="Raw JobSpec fields (camelCase)."
    )


class PlatformRunLauncherConfigK8sRunLauncher(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resources: Resources = Field(description="Container resources; requests and limits are both required.")
    failPodOnRunFailure: bool | None = None
    runK8sConfig: PlatformRunLauncherConfigK8sRunLauncherRunK8sConfig


class PlatformRunLauncherConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k8sRunLauncher: PlatformRunLauncherConfigK8sRunLauncher


class PlatformRunLauncher(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["K8sRunLauncher"]
    config: PlatformRunLauncherConfig
    resources: renamed(
        "runLauncher.resources is now runLauncher.config.k8sRunLauncher.resources (the official Dagster chart's shape): move the value there"
    ) = None
    failPodOnRunFailure: renamed(
        "runLauncher.failPodOnRunFailure is now runLauncher.config.k8sRunLauncher.failPodOnRunFailure (the official Dagster chart's shape): move the value there"
    ) = None
    runK8sConfig: renamed(
        "runLauncher.runK8sConfig is now runLauncher.config.k8sRunLauncher.runK8sConfig (the official Dagster chart's shape): move the value there"
    ) = None


class PlatformComputeLogManagerConfigS3ComputeLogManager(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str | None = None
    prefix: str | None = None
    region: str | None = None
    endpointUrl: str | None = None
    uploadInterval: Annotated[int, Field(ge=1)] | None = None
    uploadIntervalSeconds: renamed(
        "uploadIntervalSeconds is now uploadInterval (the official Dagster chart's shape): move the value there"
    ) = None


class PlatformComputeLogManagerConfigLocalComputeLogManager(BaseModel):
    model_config = ConfigDict(extra="forbid")
    baseDir: Annotated[str, Field(min_length=1)] | None = None


class PlatformComputeLogManagerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    s3ComputeLogManager: PlatformComputeLogManagerConfigS3ComputeLogManager | None = None
    localComputeLogManager: PlatformComputeLogManagerConfigLocalComputeLogManager | None = None


class PlatformComputeLogManager(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["S3ComputeLogManager", "LocalComputeLogManager"]
    config: PlatformComputeLogManagerConfig
    manager: renamed(
        "computeLogManager.manager (s3, local) is now computeLogManager.type (S3ComputeLogManager, LocalComputeLogManager) (the official Dagster chart's shape): move the value there"
    ) = None
    s3: renamed(
        "computeLogManager.s3 is now computeLogManager.config.s3ComputeLogManager (uploadIntervalSeconds is uploadInterval) (the official Dagster chart's shape): move the value there"
    ) = None
    local: renamed(
        "computeLogManager.local is now computeLogManager.config.localComputeLogManager (the official Dagster chart's shape): move the value there"
    ) = None


class PlatformCostExporterServiceMonitor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    interval: Annotated[str, Field(pattern="^[0-9]+[smh]$")] | None = None
    labels: dict[str, str] | None = None


class PlatformCostExporterDatabaseUrlSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    key: Annotated[str, Field(min_length=1)]


class PlatformCostExporter(PodSettings):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    port: Annotated[int, Field(ge=1, le=65535)]
    serviceMonitor: PlatformCostExporterServiceMonitor | None = None
    databaseUrlSecret: PlatformCostExporterDatabaseUrlSecret | None = None


class PlatformWebhookAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secretName: Annotated[str, Field(max_length=253, pattern="^(|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$")]
    tokenKey: Annotated[str, Field(pattern="^[-._a-zA-Z0-9]*$")]
    hmacSecretKey: Annotated[str, Field(pattern="^[-._a-zA-Z0-9]*$")]


class PlatformWebhookPool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: Annotated[int, Field(ge=1, le=100)]
    queue: Annotated[int, Field(ge=0)]
    queueTimeoutSeconds: Annotated[float, Field(gt=0)]


class PlatformWebhookDatabaseUrlSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    key: Annotated[str, Field(min_length=1)]


class PlatformWebhook(PodSettings):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    replicas: Annotated[int, Field(ge=1)]
    port: Annotated[int, Field(ge=1024, le=65535)]
    maxBodyBytes: Annotated[int, Field(ge=1024)]
    auth: PlatformWebhookAuth = Field(description="Secret reference only: name and keys, never a value.")
    pool: PlatformWebhookPool
    databaseUrlSecret: PlatformWebhookDatabaseUrlSecret | None = Field(
        None,
        description="The webhook's own database URL (the talent_ingest role); required with migrate.roles.enabled.",
    )
    podDisruptionBudget: PodDisruptionBudget | None = None


class PlatformPrometheusRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    labels: dict[str, str] | None = None


class PlatformGrafanaDashboards(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    folder: str | None = None
    labels: dict[str, str] | None = None


class PlatformMigratePostgresql(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    secretName: str


class PlatformMigrateRoles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    passwordSecret: str | None = None
    login: bool | None = None


class PlatformMigrate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    backoffLimit: Annotated[int, Field(ge=0)] | None = None
    activeDeadlineSeconds: Annotated[int, Field(ge=60)] | None = None
    resources: Resources = Field(description="Container resources; requests and limits are both required.")
    postgresql: PlatformMigratePostgresql | None = None
    roles: PlatformMigrateRoles | None = None


class PlatformRbac(BaseModel):
    model_config = ConfigDict(extra="forbid")
    create: bool


class PlatformServiceAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotations: dict[str, str] | None = None


class PlatformNetworkPolicyDatabase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: list[dict[str, Any]] = Field(description="NetworkPolicyPeer list.")
    port: Annotated[int, Field(ge=1, le=65535)]


class PlatformNetworkPolicyApiServer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: list[dict[str, Any]] = Field(description="NetworkPolicyPeer list.")
    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(min_length=1)]


class PlatformNetworkPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    webserverFrom: list[dict[str, Any]] | None = Field(None, description="NetworkPolicyPeer list.")
    metricsFrom: list[dict[str, Any]] | None = Field(None, description="NetworkPolicyPeer list.")
    webhookFrom: list[dict[str, Any]] | None = Field(None, description="NetworkPolicyPeer list.")
    database: PlatformNetworkPolicyDatabase | None = None
    apiServer: PlatformNetworkPolicyApiServer | None = None
    httpsTo: list[dict[str, Any]] | None = Field(None, description="NetworkPolicyPeer list.")


class PlatformRetention(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    sensor: TickRetention | None = None
    schedule: TickRetention | None = None
    autoMaterialize: TickRetention | None = None


class PlatformTeamIsolation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
    sharedSecrets: list[Annotated[str, Field(pattern="^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]]


class PlatformValues(BaseModel):
    model_config = ConfigDict(extra="forbid")
    global_: dict[str, Any] | None = Field(None, alias="global", description="Helm globals (unused).")
    nameOverride: str | None = None
    fullnameOverride: str | None = None
    image: PlatformImage
    imagePullSecrets: list[PlatformImagePullSecretsItem] | None = None
    runAsUser: Annotated[int, Field(ge=1)] | None = None
    runAsGroup: Annotated[int, Field(ge=1)] | None = None
    postgresql: PlatformPostgresql
    app: PlatformApp
    dagsterWebserver: PlatformDagsterWebserver
    ingress: PlatformIngress | None = Field(
        None, description="The webserver's Ingress, in the official Dagster chart's shape (ingress.dagsterWebserver)."
    )
    dagsterDaemon: PlatformDagsterDaemon
    runLauncher: PlatformRunLauncher = Field(description="The official chart's runLauncher; always the K8sRunLauncher.")
    computeLogManager: PlatformComputeLogManager | None = Field(
        None, description="Where steps' stdout/stderr are kept for the UI (never NoOp), in the official chart's shape."
    )
    costExporter: PlatformCostExporter | None = None
    webhook: PlatformWebhook | None = Field(None, description="The webhook receiver (talent serve-ingest).")
    prometheusRules: PlatformPrometheusRules | None = None
    grafanaDashboards: PlatformGrafanaDashboards | None = None
    migrate: PlatformMigrate | None = None
    rbac: PlatformRbac | None = None
    serviceAccount: PlatformServiceAccount | None = None
    networkPolicy: PlatformNetworkPolicy
    retention: PlatformRetention | None = Field(
        None, description="The official chart's retention block: tick purging, rendered into dagster.yaml when enabled."
    )
    additionalInstanceConfig: dict[str, Any] | None = Field(
        None,
        description="More dagster.yaml (snake_case), merged into the rendered instance; it may not replace a key the chart renders.",
    )
    teamIsolation: PlatformTeamIsolation | None = Field(
        None,
        description="A ValidatingAdmissionPolicy per team: its Jobs and pods run as its own ServiceAccount and read only its Secrets.",
    )
    webserver: renamed(
        "webserver is now dagsterWebserver (the official Dagster chart's name; replicas is replicaCount): move this block there, helm/README.md 'Coming from the official chart'"
    ) = None
    daemon: renamed(
        "daemon is now dagsterDaemon (the official Dagster chart's name; runCoordinator takes the official shape): move this block there, helm/README.md 'Coming from the official chart'"
    ) = None
    computeLogs: renamed(
        "computeLogs is now computeLogManager (the official Dagster chart's name and shape: type S3ComputeLogManager or LocalComputeLogManager, config.s3ComputeLogManager): move this block there, helm/README.md 'Coming from the official chart'"
    ) = None
    codeLocations: renamed(
        "codeLocations is now dagsterWebserver.workspace.servers (the official Dagster chart's name): move this block there, helm/README.md 'Coming from the official chart'"
    ) = None
