{{/*
Names, labels, images, security contexts and the instance config shared by every template.
*/}}

{{- define "platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource-name prefix: the release name, suffixed with the chart name unless it contains it. */}}
{{- define "platform.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "platform.labels" -}}
helm.sh/chart: {{ include "platform.chart" . }}
{{ include "platform.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: talent
{{- end -}}

{{/* Labels of one component: pass (dict "ctx" $ "component" "webserver"). */}}
{{- define "platform.componentLabels" -}}
{{ include "platform.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "platform.componentSelectorLabels" -}}
{{ include "platform.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "platform.serviceAccountName" -}}
{{- printf "%s-dagster" (include "platform.fullname" .) -}}
{{- end -}}

{{/* The daemon's own ServiceAccount: the only platform identity that may create (run) Jobs. */}}
{{- define "platform.daemonServiceAccountName" -}}
{{- printf "%s-daemon" (include "platform.fullname" .) -}}
{{- end -}}

{{- define "platform.instanceConfigMapName" -}}
{{- printf "%s-instance" (include "platform.fullname" .) -}}
{{- end -}}

{{- define "platform.workspaceConfigMapName" -}}
{{- printf "%s-workspace" (include "platform.fullname" .) -}}
{{- end -}}

{{- define "platform.image" -}}
{{- $repo := required "image.repository is required: the platform image built from tooling/Dockerfile" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- $tag := required "image.tag is required: an immutable tag (git SHA or version) of the platform image" .Values.image.tag -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must be immutable: `latest` is not allowed" -}}
{{- end -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* The "restricted" Pod Security Standard, pod level. */}}
{{- define "platform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
fsGroup: {{ .Values.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The "restricted" Pod Security Standard, container level. */}}
{{- define "platform.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
checkov skips, each with its reason inline. Pass (dict "ctx" $ "envSecrets" true "token" true).
*/}}
{{- define "platform.checkovSkips" -}}
{{- $n := 0 -}}
{{- if not .ctx.Values.image.digest }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: CKV_K8S_43=Images are pinned by immutable tags (CI rejects latest); set image.digest to pin by digest
{{- end }}
{{- if ne .ctx.Values.image.pullPolicy "Always" }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: CKV_K8S_15=Immutable tags make IfNotPresent safe; kind needs it for kind load docker-image
{{- end }}
{{- if .envSecrets }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: CKV_K8S_35=Dagster reads DAGSTER_PG_PASSWORD and TALENT_* settings from env; values come from secretKeyRef only
{{- end }}
{{- if .token }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: CKV_K8S_38=Launches, watches and deletes run Jobs through the Kubernetes API (namespaced Role)
{{- end }}
{{- range .extra }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: {{ . }}
{{- end }}
{{- end -}}

{{/* Writable scratch space for a read-only root filesystem, and the database's CA bundle
(postgresql.caConfigMap) for sslmode=verify-full: every pod that connects to Postgres gets both
(the webserver, the daemon, the migrate hook and, through the run launcher, run and step pods). */}}
{{- define "platform.scratchVolumes" -}}
- name: dagster-home
  emptyDir:
    sizeLimit: 256Mi
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- include "platform.caVolume" . }}
{{- end -}}

{{- define "platform.scratchVolumeMounts" -}}
- name: dagster-home
  mountPath: /opt/dagster/dagster_home
- name: tmp
  mountPath: /tmp
{{- include "platform.caVolumeMount" . }}
{{- end -}}

{{/* The CA bundle volume and mount alone (the exporter and the webhook have their own scratch). */}}
{{- define "platform.caVolume" -}}
{{- with .Values.postgresql.caConfigMap }}
- name: db-ca
  configMap:
    name: {{ . }}
{{- end }}
{{- end -}}

{{- define "platform.caVolumeMount" -}}
{{- if .Values.postgresql.caConfigMap }}
- name: db-ca
  mountPath: /etc/talent/db-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Non-secret env plus the app database URL. Fails on credential-like names in app.env.
Pass (dict "ctx" $ "secret" {name, key}): the Secret holding TALENT_DATABASE_URL (the migrate hook
uses app.databaseUrlSecret, the exporter may use its own). */}}
{{- define "platform.appEnv" -}}
{{- range $k, $v := .ctx.Values.app.env }}
{{- if regexMatch "(?i)(PASSWORD|SECRET|API_KEY|TOKEN|DATABASE_URL|CREDENTIAL)" $k }}
{{- fail (printf "app.env.%s looks like a credential: secrets come from Kubernetes Secrets (app.databaseUrlSecret), never from values" $k) }}
{{- end }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
# The images run with a read-only root filesystem: any local state goes to the /tmp emptyDir.
- name: TALENT_HOME
  value: /tmp/talent
- name: TALENT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "app.databaseUrlSecret.name is required: the Secret holding the talent database URL" .secret.name }}
      key: {{ .secret.key }}
{{- end -}}

{{/* DAGSTER_PG_PASSWORD from the Secret named by (dict "secretName" name): postgresql.secretName, or the migrate hook's. */}}
{{- define "platform.pgPasswordEnv" -}}
- name: DAGSTER_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "postgresql.secretName is required: a Secret with key postgresql-password for the Dagster instance database" .secretName }}
      key: postgresql-password
{{- end -}}

{{/* The migrate hook's Dagster storage user and Secret: migrate.postgresql, else postgresql. */}}
{{- define "platform.migrateUsername" -}}
{{- .Values.migrate.postgresql.username | default .Values.postgresql.username -}}
{{- end -}}
{{- define "platform.migrateSecretName" -}}
{{- .Values.migrate.postgresql.secretName | default .Values.postgresql.secretName -}}
{{- end -}}

{{/* The instance's storage: all the migration hook needs. Pass (dict "ctx" $ "username" user): postgresql.username, or the migrate hook's. */}}
{{- define "platform.storageConfig" -}}
{{- $username := .username -}}
{{- with .ctx -}}
{{- $pg := .Values.postgresql -}}
{{- $db := dict "postgres_db" (dict
      "username" $username
      "password" (dict "env" "DAGSTER_PG_PASSWORD")
      "hostname" (required "postgresql.host is required: the Dagster instance database host" $pg.host)
      "db_name" $pg.database
      "port" (int $pg.port)
      "scheme" $pg.scheme
      "params" $pg.params) -}}
{{- toYaml (dict "storage" (dict "postgres" $db) "telemetry" (dict "enabled" false)) -}}
{{- end -}}
{{- end -}}

{{/* Environment every Dagster process of the platform shares (webserver, daemon; run and step pods get it through the run launcher's env_vars). */}}
{{- define "platform.dagsterEnv" -}}
- name: DAGSTER_EVENT_BATCH_SIZE
  value: {{ .Values.postgresql.eventBatchSize | int | quote }}
{{- end -}}

{{/* Where steps' stdout/stderr go: S3 (dagster-aws) on a cluster, a local folder otherwise; never NoOp. */}}
{{- define "platform.computeLogs" -}}
{{- $c := .Values.computeLogManager -}}
{{- if eq $c.type "S3ComputeLogManager" -}}
{{- $s3 := $c.config.s3ComputeLogManager -}}
{{- $cfg := dict
  "bucket" (required "computeLogManager.config.s3ComputeLogManager.bucket is required with computeLogManager.type S3ComputeLogManager (Terraform output bucket_names[\"compute-logs\"])" $s3.bucket)
  "prefix" (trimSuffix "/" $s3.prefix)
  "skip_empty_files" true
  "upload_interval" (int $s3.uploadInterval) -}}
{{- with $s3.region }}{{ $_ := set $cfg "region" . }}{{ end -}}
{{- with $s3.endpointUrl }}{{ $_ := set $cfg "endpoint_url" . }}{{ end -}}
{{- /* one prefix per team under the prefix (<prefix>/<location>/storage/...), so each team's IAM role writes only its own: talent_shared/compute_logs.py */ -}}
{{- $locations := list -}}
{{- range $.Values.dagsterWebserver.workspace.servers }}{{ $locations = append $locations .name }}{{ end -}}
{{- $_ := set $cfg "locations" $locations -}}
{{- toYaml (dict "module" "talent_shared.compute_logs" "class" "TeamS3ComputeLogManager" "config" $cfg) -}}
{{- else if eq $c.type "LocalComputeLogManager" -}}
{{- toYaml (dict "module" "dagster._core.storage.local_compute_log_manager" "class" "LocalComputeLogManager" "config" (dict "base_dir" $c.config.localComputeLogManager.baseDir)) -}}
{{- else -}}
{{- fail (printf "computeLogManager.type must be S3ComputeLogManager or LocalComputeLogManager, not %q" $c.type) -}}
{{- end -}}
{{- end -}}

{{/* The instance's dagster.yaml. */}}
{{- define "platform.instanceConfig" -}}
{{- $rl := .Values.runLauncher.config.k8sRunLauncher -}}
{{- $rk := $rl.runK8sConfig -}}
{{- $d := .Values.dagsterDaemon -}}
{{- $q := $d.runCoordinator.config.queuedRunCoordinator -}}
{{- $podSpec := mergeOverwrite (dict
      "securityContext" (include "platform.podSecurityContext" . | fromYaml)
      "automountServiceAccountToken" true)
    (deepCopy $rk.podSpecConfig) -}}
{{- $tagLimits := list (dict "key" "dagster/code_location" "value" (dict "applyLimitPerUniqueValue" true) "limit" $q.perCodeLocationLimit) -}}
{{- $tagLimits = concat $tagLimits $q.tagConcurrencyLimits -}}
{{- $instance := dict
  "storage" (include "platform.storageConfig" (dict "ctx" . "username" .Values.postgresql.username) | fromYaml).storage
  "run_launcher" (dict
    "module" "dagster_k8s"
    "class" "K8sRunLauncher"
    "config" (dict
      "instance_config_map" (include "platform.instanceConfigMapName" .)
      "postgres_password_secret" .Values.postgresql.secretName
      "dagster_home" "/opt/dagster/dagster_home"
      "service_account_name" (include "platform.serviceAccountName" .)
      "job_namespace" .Release.Namespace
      "env_vars" (list (printf "DAGSTER_EVENT_BATCH_SIZE=%d" (int .Values.postgresql.eventBatchSize)))
      "load_incluster_config" true
      "image_pull_policy" .Values.image.pullPolicy
      "fail_pod_on_run_failure" $rl.failPodOnRunFailure
      "resources" $rl.resources
      "security_context" (include "platform.containerSecurityContext" . | fromYaml)
      "volumes" (include "platform.scratchVolumes" . | fromYamlArray)
      "volume_mounts" (include "platform.scratchVolumeMounts" . | fromYamlArray)
      "run_k8s_config" (dict
        "container_config" $rk.containerConfig
        "pod_spec_config" $podSpec
        "pod_template_spec_metadata" $rk.podTemplateSpecMetadata
        "job_metadata" $rk.jobMetadata
        "job_spec_config" $rk.jobSpecConfig)))
  "run_coordinator" (dict
    "module" "dagster._core.run_coordinator"
    "class" "QueuedRunCoordinator"
    "config" (dict "dequeue_use_threads" $q.dequeueUseThreads "dequeue_num_workers" (int $q.dequeueNumWorkers)))
  "concurrency" (dict
    "runs" (dict
      "max_concurrent_runs" (int $q.maxConcurrentRuns)
      "tag_concurrency_limits" $tagLimits))
  "run_monitoring" (dict
    "enabled" $d.runMonitoring.enabled
    "start_timeout_seconds" (int $d.runMonitoring.startTimeoutSeconds)
    "cancel_timeout_seconds" (int $d.runMonitoring.cancelTimeoutSeconds)
    "poll_interval_seconds" (int $d.runMonitoring.pollIntervalSeconds)
    "max_resume_run_attempts" (int $d.runMonitoring.maxResumeRunAttempts))
  "run_retries" (dict
    "enabled" $d.runRetries.enabled
    "max_retries" (int $d.runRetries.maxRetries)
    "retry_on_asset_or_op_failure" $d.runRetries.retryOnAssetOrOpFailure)
  "scheduler" (dict "module" "dagster._core.scheduler" "class" "DagsterDaemonScheduler")
  "compute_logs" (include "platform.computeLogs" . | fromYaml)
  "telemetry" (dict "enabled" false)
-}}
{{- if not (kindIs "invalid" $d.poolDefaultLimit) -}}
{{- $_ := set $instance.concurrency "pools" (dict "default_limit" (int $d.poolDefaultLimit)) -}}
{{- end -}}
{{- with .Values.retention -}}
{{- if .enabled -}}
{{- $retention := dict -}}
{{- range $key, $name := dict "sensor" "sensor" "schedule" "schedule" "autoMaterialize" "auto_materialize" -}}
{{- with index $.Values.retention $key -}}
{{- $_ := set $retention $name (dict "purge_after_days" .purgeAfterDays) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $instance "retention" $retention -}}
{{- end -}}
{{- end -}}
{{- with .Values.additionalInstanceConfig -}}
{{- include "platform.checkAdditionalInstanceConfig" (dict "base" $instance "extra" . "path" "") -}}
{{- $instance = mergeOverwrite $instance (deepCopy .) -}}
{{- end -}}
{{- toYaml $instance -}}
{{- end -}}

{{/*
additionalInstanceConfig adds to the instance's dagster.yaml and never replaces what the chart
renders from its values: the run launcher's security contexts, the storage's role, the per-location
run limit would otherwise be one key away from being undone. The blocks the chart renders are its
own, whole (a key added inside the storage or the run launcher changes what they are), except
concurrency, run_monitoring and run_retries, which take keys the chart does not set. A refused key
fails the render with the value that sets it.
Pass (dict "base" <rendered map> "extra" <additionalInstanceConfig map> "path" "").
*/}}
{{- define "platform.checkAdditionalInstanceConfig" -}}
{{- $owners := dict
  "storage" "postgresql.*"
  "run_launcher" "runLauncher.config.k8sRunLauncher"
  "run_coordinator" "dagsterDaemon.runCoordinator"
  "concurrency" "dagsterDaemon.runCoordinator and dagsterDaemon.poolDefaultLimit"
  "run_monitoring" "dagsterDaemon.runMonitoring"
  "run_retries" "dagsterDaemon.runRetries"
  "scheduler" "nothing: the daemon's scheduler is always DagsterDaemonScheduler"
  "compute_logs" "computeLogManager"
  "telemetry" "nothing: the chart turns Dagster's telemetry off"
  "retention" "retention (the official chart's block: enabled, sensor, schedule, autoMaterialize)" -}}
{{- $extendable := list "concurrency" "run_monitoring" "run_retries" -}}
{{- range $key, $value := .extra -}}
{{- $path := ternary $key (printf "%s.%s" $.path $key) (eq $.path "") -}}
{{- $top := index (splitList "." $path) 0 -}}
{{- $why := printf "additionalInstanceConfig.%s would replace what the chart renders into dagster.yaml; set it through %s" $path (get $owners $top | default "the chart's own values") -}}
{{- if and (eq $.path "") (hasKey $owners $key) (not (has $key $extendable)) -}}
{{- fail $why -}}
{{- end -}}
{{- if hasKey $.base $key -}}
{{- $mine := index $.base $key -}}
{{- if and (kindIs "map" $mine) (kindIs "map" $value) -}}
{{- include "platform.checkAdditionalInstanceConfig" (dict "base" $mine "extra" $value "path" $path) -}}
{{- else -}}
{{- fail $why -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The workspace: one gRPC server per team release. */}}
{{- define "platform.workspace" -}}
{{- if not .Values.dagsterWebserver.workspace.servers -}}
{{- fail "dagsterWebserver.workspace.servers must list at least one code location: the webserver and daemon do not start without a workspace (dagster#30151)" -}}
{{- end -}}
{{- $servers := list -}}
{{- $seen := dict -}}
{{- range .Values.dagsterWebserver.workspace.servers -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "dagsterWebserver.workspace.servers: location name %q is listed twice" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- $servers = append $servers (dict "grpc_server" (dict "host" .host "port" (int .port) "location_name" .name)) -}}
{{- end -}}
{{- toYaml (dict "load_from" $servers) -}}
{{- end -}}

{{/*
With migrate.roles.enabled, the owner of the databases (the RDS master user) is the migrate hook's
alone: fail the render when any other pod would connect as it.
*/}}
{{- define "platform.checkRoles" -}}
{{- if .Values.migrate.roles.enabled -}}
{{- $v := .Values -}}
{{- if or (not $v.migrate.postgresql.secretName) (eq $v.migrate.postgresql.secretName $v.postgresql.secretName) -}}
{{- fail "migrate.roles.enabled: postgresql.secretName is Dagster's storage role (talent_dagster) and migrate.postgresql.secretName the owner's, which only the migrate hook uses: set both, to different Secrets" -}}
{{- end -}}
{{- if or (not $v.migrate.postgresql.username) (eq $v.migrate.postgresql.username $v.postgresql.username) -}}
{{- fail "migrate.roles.enabled: postgresql.username (Dagster's storage role, e.g. talent_dagster) and migrate.postgresql.username (the owner) must differ" -}}
{{- end -}}
{{- if and $v.costExporter.enabled (or (not $v.costExporter.databaseUrlSecret.name) (eq $v.costExporter.databaseUrlSecret.name $v.app.databaseUrlSecret.name)) -}}
{{- fail "migrate.roles.enabled: costExporter.databaseUrlSecret must name the talent_exporter role's URL, not the owner's (app.databaseUrlSecret)" -}}
{{- end -}}
{{- if and $v.webhook.enabled (or (not $v.webhook.databaseUrlSecret.name) (eq $v.webhook.databaseUrlSecret.name $v.app.databaseUrlSecret.name)) -}}
{{- fail "migrate.roles.enabled: webhook.databaseUrlSecret must name the talent_ingest role's URL, not the owner's (app.databaseUrlSecret)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's own database URL Secret ({name, key}), else the owner's (roles off only). */}}
{{- define "platform.componentDatabaseUrl" -}}
{{- if .own.name -}}{{ toYaml .own }}{{- else -}}{{ toYaml .ctx.Values.app.databaseUrlSecret }}{{- end -}}
{{- end -}}

{{/*
"true" when the cluster serves the Prometheus operator's API (monitoring.coreos.com/v1), else "".
ServiceMonitor and PrometheusRule render only then, so an install on a cluster without the
operator's CRDs does not fail; their `enabled` values still turn them off where it is served.
*/}}
{{- define "platform.prometheusOperator" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/*
A deployment's pod security context: the restricted defaults above with its own
`podSecurityContext` (the official Dagster chart's name) merged on top, key by key. Empty: the
defaults exactly. Pass (dict "ctx" $ "over" <the deployment's podSecurityContext>).
*/}}
{{- define "platform.podSecurityContextWith" -}}
{{- if .over -}}
{{- $merged := mergeOverwrite (include "platform.podSecurityContext" .ctx | fromYaml) (deepCopy .over) -}}
{{- include "platform.checkRestricted" (dict "sc" $merged "what" "podSecurityContext") -}}
{{- toYaml $merged -}}
{{- else -}}
{{- include "platform.podSecurityContext" .ctx -}}
{{- end -}}
{{- end -}}

{{/*
A container's security context: the restricted defaults with its deployment's `securityContext`
merged on top. Pass (dict "ctx" $ "over" <the deployment's securityContext>).
*/}}
{{- define "platform.containerSecurityContextWith" -}}
{{- if .over -}}
{{- $merged := mergeOverwrite (include "platform.containerSecurityContext" .ctx | fromYaml) (deepCopy .over) -}}
{{- include "platform.checkRestricted" (dict "sc" $merged "what" "securityContext") -}}
{{- toYaml $merged -}}
{{- else -}}
{{- include "platform.containerSecurityContext" .ctx -}}
{{- end -}}
{{- end -}}

{{/*
Fails when an override would leave the "restricted" Pod Security Standard (non-root, no privilege
escalation, read-only root filesystem): the namespace refuses such pods, better said at render.
*/}}
{{- define "platform.checkRestricted" -}}
{{- $sc := .sc -}}
{{- if and (hasKey $sc "runAsNonRoot") (ne (toString $sc.runAsNonRoot) "true") -}}
{{- fail (printf "%s.runAsNonRoot must stay true (restricted Pod Security Standard)" .what) -}}
{{- end -}}
{{- if and (hasKey $sc "runAsUser") (eq (toString $sc.runAsUser) "0") -}}
{{- fail (printf "%s.runAsUser must not be 0 (restricted Pod Security Standard)" .what) -}}
{{- end -}}
{{- if and (hasKey $sc "readOnlyRootFilesystem") (ne (toString $sc.readOnlyRootFilesystem) "true") -}}
{{- fail (printf "%s.readOnlyRootFilesystem must stay true (the chart mounts writable emptyDirs instead)" .what) -}}
{{- end -}}
{{- if and (hasKey $sc "allowPrivilegeEscalation") (ne (toString $sc.allowPrivilegeEscalation) "false") -}}
{{- fail (printf "%s.allowPrivilegeEscalation must stay false (restricted Pod Security Standard)" .what) -}}
{{- end -}}
{{- if and (hasKey $sc "privileged") (ne (toString $sc.privileged) "false") -}}
{{- fail (printf "%s.privileged must stay false (restricted Pod Security Standard)" .what) -}}
{{- end -}}
{{- end -}}

{{/*
nodeSelector, affinity and tolerations of a deployment's pod, in the official chart's names and
shapes; nothing for the empty defaults. Pass the deployment's values (e.g. .Values.dagsterWebserver).
*/}}
{{- define "platform.podPlacement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A PodDisruptionBudget's spec fields from a deployment's `podDisruptionBudget` (the shape proposed
for the official chart's user deployments: enabled, minAvailable or maxUnavailable,
unhealthyPodEvictionPolicy). Exactly one of the two bounds, and one that lets a drain evict at
least one pod: a budget allowing none blocks every node drain.
Pass (dict "pdb" <podDisruptionBudget> "replicas" <replicas> "what" <values path>).
*/}}
{{- define "platform.pdbSpec" -}}
{{- $pdb := .pdb -}}
{{- $min := hasKey $pdb "minAvailable" -}}
{{- $max := hasKey $pdb "maxUnavailable" -}}
{{- if eq $min $max -}}
{{- fail (printf "%s: set exactly one of minAvailable and maxUnavailable" .what) -}}
{{- end -}}
{{- if and $min (not (kindIs "string" $pdb.minAvailable)) (ge (int $pdb.minAvailable) (int .replicas)) -}}
{{- fail (printf "%s.minAvailable %v with %v replica(s) lets no pod be evicted, which blocks every node drain" .what $pdb.minAvailable .replicas) -}}
{{- end -}}
{{- if and $max (not (kindIs "string" $pdb.maxUnavailable)) (lt (int $pdb.maxUnavailable) 1) -}}
{{- fail (printf "%s.maxUnavailable 0 lets no pod be evicted, which blocks every node drain" .what) -}}
{{- end -}}
{{- if $min }}
minAvailable: {{ $pdb.minAvailable }}
{{- else }}
maxUnavailable: {{ $pdb.maxUnavailable }}
{{- end }}
{{- with $pdb.unhealthyPodEvictionPolicy }}
unhealthyPodEvictionPolicy: {{ . }}
{{- end }}
{{- end -}}

{{/*
One extra path of the webserver's Ingress (ingress.dagsterWebserver.precedingPaths or
succeedingPaths, the official chart's {path, pathType, serviceName, servicePort}): a numeric
servicePort is a port number, any other a port name.
*/}}
{{- define "platform.ingressPath" -}}
- path: {{ .path }}
  pathType: {{ .pathType }}
  backend:
    service:
      name: {{ .serviceName }}
      port:
        {{- if kindIs "string" .servicePort }}
        name: {{ .servicePort }}
        {{- else }}
        number: {{ .servicePort }}
        {{- end }}
{{- end -}}
