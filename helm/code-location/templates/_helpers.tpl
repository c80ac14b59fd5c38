{{/*
Names, labels, images, security contexts and the container context of a team release.
*/}}

{{- define "code-location.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-code-server": unique per release, so teams in one namespace never collide. */}}
{{- define "code-location.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains "code-server" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-code-server" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "code-location.locationName" -}}
{{- required "name is required: the Dagster code location name (unique across the workspace)" .Values.name -}}
{{- end -}}

{{- define "code-location.selectorLabels" -}}
app.kubernetes.io/name: {{ include "code-location.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "code-location.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "code-location.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: talent
talent.io/code-location: {{ include "code-location.locationName" . }}
{{- end -}}

{{- define "code-location.image" -}}
{{- $repo := required "image.repository is required: the location image built from code_locations/<team>/Dockerfile" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- $tag := required "image.tag is required: an immutable tag (git SHA or version) of the location image" .Values.image.tag -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must be immutable: `latest` is not allowed" -}}
{{- end -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{- define "code-location.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
fsGroup: {{ .Values.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "code-location.containerSecurityContext" -}}
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

{{/* Non-secret env: refuses credential-like names (secrets come from secretEnv). */}}
{{- define "code-location.checkedEnv" -}}
{{- range $k, $v := .Values.env }}
{{- if regexMatch "(?i)(PASSWORD|SECRET|API_KEY|TOKEN|DATABASE_URL|CREDENTIAL)" $k }}
{{- fail (printf "env.%s looks like a credential: put it in secretEnv ({secretName, key}), never in values" $k) }}
{{- end }}
{{- end }}
{{- toYaml .Values.env -}}
{{- end -}}

{{/* secretEnv as a list of EnvVar with secretKeyRef. */}}
{{- define "code-location.secretEnv" -}}
{{- $out := list -}}
{{- range $name, $ref := .Values.secretEnv -}}
{{- $secret := required (printf "secretEnv.%s.secretName is required" $name) $ref.secretName -}}
{{- $key := required (printf "secretEnv.%s.key is required" $name) $ref.key -}}
{{- $out = append $out (dict "name" $name "valueFrom" (dict "secretKeyRef" (dict "name" $secret "key" $key))) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Labels of this team's run and step pods (NetworkPolicies select them). */}}
{{- define "code-location.jobLabels" -}}
{{- $l := dict "talent.io/code-location" (include "code-location.locationName" .) "talent.io/role" "dagster-job" -}}
{{- toYaml (merge (dict) $l .Values.runs.labels) -}}
{{- end -}}

{{/*
DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT: what the run launcher and k8s_job_executor merge into
every run and step pod of this location, after the platform's launcher config and before the
asset's op tags.
*/}}
{{- define "code-location.containerContext" -}}
{{- $k8s := dict
  "namespace" .Release.Namespace
  "service_account_name" (include "code-location.fullname" .)
  "image_pull_policy" .Values.image.pullPolicy
  "env_config_maps" (list (printf "%s-env" (include "code-location.fullname" .)))
  "env" (include "code-location.secretEnv" . | fromYamlArray)
  "labels" (include "code-location.jobLabels" . | fromYaml)
  "resources" .Values.runs.resources
-}}
{{- with .Values.imagePullSecrets }}{{ $_ := set $k8s "image_pull_secrets" . }}{{ end -}}
{{- with .Values.volumes }}{{ $_ := set $k8s "volumes" . }}{{ end -}}
{{- with .Values.volumeMounts }}{{ $_ := set $k8s "volume_mounts" . }}{{ end -}}
{{- toJson (dict "k8s" $k8s) -}}
{{- end -}}

{{- define "code-location.checkovSkips" -}}
{{- $n := 0 -}}
{{- if not .Values.image.digest }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: CKV_K8S_43=Images are pinned by immutable tags (CI rejects latest); set image.digest to pin by digest
{{- end }}
{{- if ne .Values.image.pullPolicy "Always" }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: CKV_K8S_15=Immutable tags make IfNotPresent safe; kind needs it for kind load docker-image
{{- end }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: CKV_K8S_35=Dagster and talent settings are read from env (DAGSTER_PG_PASSWORD, TALENT_*); values come from secretKeyRef only
{{- end -}}

{{/* The database's CA bundle (platform.databaseCaConfigMap), for sslmode=verify-full: the code
server's (its sensors connect). Run and step pods get it from the platform's run launcher. */}}
{{- define "code-location.caVolume" -}}
{{- with .Values.platform.databaseCaConfigMap }}
- name: db-ca
  configMap:
    name: {{ . }}
{{- end }}
{{- end -}}

{{- define "code-location.caVolumeMount" -}}
{{- if .Values.platform.databaseCaConfigMap }}
- name: db-ca
  mountPath: /etc/talent/db-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/*
A deployment's pod security context: the restricted defaults above with its own
`podSecurityContext` (the official Dagster chart's name) merged on top, key by key. Empty: the
defaults exactly. Pass (dict "ctx" $ "over" <the deployment's podSecurityContext>).
*/}}
{{- define "code-location.podSecurityContextWith" -}}
{{- if .over -}}
{{- $merged := mergeOverwrite (include "code-location.podSecurityContext" .ctx | fromYaml) (deepCopy .over) -}}
{{- include "code-location.checkRestricted" (dict "sc" $merged "what" "podSecurityContext") -}}
{{- toYaml $merged -}}
{{- else -}}
{{- include "code-location.podSecurityContext" .ctx -}}
{{- end -}}
{{- end -}}

{{/*
A container's security context: the restricted defaults with its deployment's `securityContext`
merged on top. Pass (dict "ctx" $ "over" <the deployment's securityContext>).
*/}}
{{- define "code-location.containerSecurityContextWith" -}}
{{- if .over -}}
{{- $merged := mergeOverwrite (include "code-location.containerSecurityContext" .ctx | fromYaml) (deepCopy .over) -}}
{{- include "code-location.checkRestricted" (dict "sc" $merged "what" "securityContext") -}}
{{- toYaml $merged -}}
{{- else -}}
{{- include "code-location.containerSecurityContext" .ctx -}}
{{- end -}}
{{- end -}}

{{/*
Fails when an override would leave the "restricted" Pod Security Standard (non-root, no privilege
escalation, read-only root filesystem): the namespace refuses such pods, better said at render.
*/}}
{{- define "code-location.checkRestricted" -}}
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
shapes; nothing for the empty defaults. Pass the values holding them (.Values here: the code server is the release).
*/}}
{{- define "code-location.podPlacement" -}}
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
{{- define "code-location.pdbSpec" -}}
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
