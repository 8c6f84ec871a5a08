{{/* The port the container listens on; probes in values.yaml name it too. */}}
{{- define "tally.containerPort" -}}50051{{- end }}

{{/* The chart name, or nameOverride. */}}
{{- define "tally.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's resources: RELEASE-tally, or RELEASE when it already says tally. */}}
{{- define "tally.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "tally.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource, without a component. */}}
{{- define "tally.labels" -}}
helm.sh/chart: {{ include "tally.chart" . }}
app.kubernetes.io/name: {{ include "tally.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | toString | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of the server's resources. */}}
{{- define "tally.serverLabels" -}}
{{ include "tally.labels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* Labels that select the server's pods (not the migration job's). */}}
{{- define "tally.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tally.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/* The ServiceAccount of the server's pods. */}}
{{- define "tally.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tally.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference; the tag defaults to the chart's appVersion. */}}
{{- define "tally.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
Checks the database settings: exactly one of database.existingSecret and database.url, and a
PostgreSQL URL (a SQLite file cannot be shared by replicas, and the root filesystem is read-only).
*/}}
{{- define "tally.validateDatabase" -}}
{{- $db := .Values.database }}
{{- if and $db.existingSecret $db.url }}
{{- fail "tally: set only one of database.existingSecret and database.url" }}
{{- end }}
{{- if not (or $db.existingSecret $db.url) }}
{{- fail "tally: no database: set database.existingSecret to a Secret holding the PostgreSQL URL (key database.existingSecretKey, default DATABASE_URL), or set database.url; see the chart's README.md" }}
{{- end }}
{{- if and $db.url (not (regexMatch "^postgres(ql)?://" $db.url)) }}
{{- fail "tally: database.url must be a PostgreSQL URL (postgres://USER:PASSWORD@HOST:5432/DB)" }}
{{- end }}
{{- if and $db.existingSecret (not $db.existingSecretKey) }}
{{- fail "tally: database.existingSecretKey must name the key of the URL in database.existingSecret" }}
{{- end }}
{{- include "tally.validateOptions" . }}
{{- end }}

{{/* Checks the optional parts: TLS needs a Secret, a ServiceMonitor needs metrics, ports differ. */}}
{{- define "tally.validateOptions" -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tally: tls.enabled needs tls.secretName, a Secret holding the certificate chain and key" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "tally: metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int (include "tally.containerPort" .))) }}
{{- fail (printf "tally: metrics.port must differ from the gRPC port %s" (include "tally.containerPort" .)) }}
{{- end }}
{{- end }}

{{/* The Secret the server's pods read DATABASE_URL from, and its key. */}}
{{- define "tally.databaseSecretName" -}}
{{- .Values.database.existingSecret | default (include "tally.fullname" .) }}
{{- end }}
{{- define "tally.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}DATABASE_URL{{ end }}
{{- end }}

{{/*
The Secret the migration hook reads DATABASE_URL from: the existing Secret, or a hook copy of the
chart's own Secret (a pre-install hook runs before the release's ordinary resources exist).
*/}}
{{- define "tally.migrationSecretName" -}}
{{- .Values.database.existingSecret | default (printf "%s-migration" (include "tally.fullname" . | trunc 53 | trimSuffix "-")) }}
{{- end }}

{{/* Environment of the server, as a map; `config` entries override the chart's. */}}
{{- define "tally.configEnv" -}}
{{- $env := dict
  "TALLY_LISTEN" (printf "0.0.0.0:%s" (include "tally.containerPort" .))
  "TALLY_LOG_FORMAT" .Values.logFormat
  "RUST_LOG" .Values.logLevel
  "TALLY_DRAIN_DELAY" (printf "%ds" (int .Values.shutdown.drainDelaySeconds))
  "TALLY_SHUTDOWN_GRACE" (printf "%ds" (int .Values.shutdown.graceSeconds))
}}
{{- if .Values.otel.endpoint }}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" .Values.otel.endpoint }}
{{- $_ := set $env "OTEL_SERVICE_NAME" (.Values.otel.serviceName | default "tally") }}
{{- end }}
{{- if .Values.metrics.enabled }}
{{- $_ := set $env "TALLY_METRICS_LISTEN" (printf "0.0.0.0:%d" (int .Values.metrics.port)) }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $_ := set $env "TALLY_TLS_CERT" (printf "%s/tls.crt" (include "tally.tlsMountPath" .)) }}
{{- $_ := set $env "TALLY_TLS_KEY" (printf "%s/tls.key" (include "tally.tlsMountPath" .)) }}
{{- if .Values.tls.clientCaKey }}
{{- $_ := set $env "TALLY_TLS_CLIENT_CA" (printf "%s/client-ca.crt" (include "tally.tlsMountPath" .)) }}
{{- end }}
{{- end }}
{{- $env = mergeOverwrite $env (.Values.config | default dict) }}
{{- range $name, $value := $env }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds: drain delay + grace + margin. */}}
{{- define "tally.terminationGracePeriodSeconds" -}}
{{- add (int .Values.shutdown.drainDelaySeconds) (int .Values.shutdown.graceSeconds) (int .Values.shutdown.marginSeconds) }}
{{- end }}

{{/* Where the tls Secret is mounted (its keys as tls.crt, tls.key and client-ca.crt). */}}
{{- define "tally.tlsMountPath" -}}/etc/tally/tls{{- end }}

{{/*
One probe block (dict "probe" BLOCK "tls" BOOL): as given, except that with TLS a `grpc` probe
becomes a `tcpSocket` probe on the gRPC port with the same timings (the kubelet's gRPC probe has no
TLS).
*/}}
{{- define "tally.probe" -}}
{{- $probe := deepCopy .probe }}
{{- if and .tls (hasKey $probe "grpc") }}
{{- $_ := unset $probe "grpc" }}
{{- $_ := set $probe "tcpSocket" (dict "port" "grpc") }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/* Affinity of the server's pods: `affinity`, or the soft anti-affinity of `podAntiAffinity`. */}}
{{- define "tally.affinity" -}}
{{- if .Values.affinity }}
{{- toYaml .Values.affinity }}
{{- else if eq .Values.podAntiAffinity "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tally.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end }}

{{/* Labels of the `helm test` pod; the NetworkPolicy lets it in by them. */}}
{{- define "tally.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "tally.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}
