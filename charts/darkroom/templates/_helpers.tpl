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

{{/* The Secret and key holding the Redis URL, if any. */}}
{{- define "darkroom.redisSecretName" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecret }}{{ else if .Values.redis.url }}{{ include "darkroom.fullname" . }}-redis{{ end }}
{{- end }}

{{- define "darkroom.redisSecretKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}redis-url{{ end }}
{{- end }}

{{/* PromQL label matchers that scope the rules to this release's scrape targets. */}}
{{- define "darkroom.ruleSelector" -}}
namespace="{{ .Release.Namespace }}",service="{{ include "darkroom.fullname" . }}"
{{- end }}
