{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "darkroom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-darkroom, or <release> when it already contains the chart name. */}}
{{- define "darkroom.fullname" -}}
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

{{- define "darkroom.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: name and instance only, because selectors are immutable. */}}
{{- define "darkroom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "darkroom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "darkroom.labels" -}}
helm.sh/chart: {{ include "darkroom.chart" . }}
{{ include "darkroom.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: darkroom
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "darkroom.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "darkroom.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: a digest pins it; otherwise the tag, defaulting to appVersion. */}}
{{- define "darkroom.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Namespace whose DarkroomApps are served (DARKROOM_NAMESPACE). */}}
{{- define "darkroom.watchNamespace" -}}
{{- default .Release.Namespace .Values.config.watchNamespace }}
{{- end }}

{{/* Replicas that run at least: replicaCount, or the HPA's minimum. */}}
{{- define "darkroom.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/* Whether the Prometheus Operator's API is served (ServiceMonitor, PrometheusRule). */}}
{{- define "darkroom.monitoringApi" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/*
How rate limits are shared: "standalone" (redis.url or an existing Secret with the URL), "cluster"
(redis.clusterNodes), "sentinel" (redis.sentinel.addresses), or "" (in memory, per replica). A mix
fails the render with the same rule darkroom applies to its environment.
*/}}
{{- define "darkroom.redisMode" -}}
{{- $redis := .Values.redis }}
{{- $cluster := gt (len $redis.clusterNodes) 0 }}
{{- $sentinel := gt (len $redis.sentinel.addresses) 0 }}
{{- if or (and $cluster $sentinel) (and $redis.url (or $cluster $sentinel)) }}
{{- fail "redis: set only one of url, clusterNodes and sentinel.addresses" }}
{{- end }}
{{- if and $sentinel (not $redis.sentinel.name) }}
{{- fail "redis.sentinel.name is required with redis.sentinel.addresses: the primary's name in the sentinels' configuration" }}
{{- end }}
{{- if and (or $redis.username $redis.password $redis.tls) (not (or $cluster $sentinel)) }}
{{- fail "redis.username, redis.password and redis.tls are for clusterNodes or sentinel.addresses; with redis.url put the user and password in the URL and use rediss:// for TLS" }}
{{- end }}
{{- if and (or $redis.sentinel.name $redis.sentinel.password) (not $sentinel) }}
{{- fail "redis.sentinel.name and redis.sentinel.password are only used with redis.sentinel.addresses" }}
{{- end }}
{{- if $cluster }}cluster{{ else if $sentinel }}sentinel{{ else if or $redis.url $redis.existingSecret }}standalone{{ end }}
{{- end }}

{{/* The Secret holding the Redis URL or passwords, if any. */}}
{{- define "darkroom.redisSecretName" -}}
{{- $redis := .Values.redis }}
{{- if $redis.existingSecret }}{{ $redis.existingSecret }}{{ else if or $redis.url $redis.password $redis.sentinel.password }}{{ include "darkroom.fullname" . }}-redis{{ end }}
{{- end }}

{{- define "darkroom.redisSecretKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}redis-url{{ end }}
{{- end }}

{{- define "darkroom.redisPasswordKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretPasswordKey }}{{ else }}redis-password{{ end }}
{{- end }}

{{- define "darkroom.redisSentinelPasswordKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretSentinelPasswordKey }}{{ else }}redis-sentinel-password{{ end }}
{{- end }}

{{/* PromQL label matchers that scope the rules to this release's scrape targets. */}}
{{- define "darkroom.ruleSelector" -}}
namespace="{{ .Release.Namespace }}",service="{{ include "darkroom.fullname" . }}"
{{- end }}
