{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "codiff.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: RELEASE-CHART, or RELEASE when it already contains CHART. */}}
{{- define "codiff.fullname" -}}
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

{{- define "codiff.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "codiff.labels" -}}
helm.sh/chart: {{ include "codiff.chart" . }}
{{ include "codiff.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the pods (never change them after install). */}}
{{- define "codiff.selectorLabels" -}}
app.kubernetes.io/name: {{ include "codiff.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "codiff.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "codiff.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "codiff.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The model folder the server is told to load. */}}
{{- define "codiff.modelDir" -}}
{{- if eq .Values.model.source "baked" }}
{{- .Values.model.bakedPath }}
{{- else if eq .Values.model.source "volume" }}
{{- $_ := required "model.volume is required when model.source is volume" (empty .Values.model.volume | ternary "" "set") }}
{{- if .Values.model.subPath }}
{{- printf "%s/%s" (trimSuffix "/" .Values.model.mountPath) .Values.model.subPath }}
{{- else }}
{{- .Values.model.mountPath }}
{{- end }}
{{- else }}
{{- fail (printf "model.source must be baked or volume, not %q" .Values.model.source) }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: above the server's drain grace plus the
preStop pause, so the kubelet never kills a pod that is still draining.
*/}}
{{- define "codiff.terminationGrace" -}}
{{- $drain := add (int (ceil .Values.config.shutdown_grace_seconds)) (int .Values.lifecycle.preStopSleepSeconds) }}
{{- if .Values.terminationGracePeriodSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed config.shutdown_grace_seconds + lifecycle.preStopSleepSeconds (%d)" (int .Values.terminationGracePeriodSeconds) $drain) }}
{{- end }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- add $drain 15 }}
{{- end }}
{{- end }}
