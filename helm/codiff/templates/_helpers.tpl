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

{{/*
LibTorch intra-op threads: config.torch_threads when set, else the CPU limit
rounded up ("4" -> 4, "1500m" -> 2, "500m" -> 1), else 0 (the server then
reads its cgroup CPU quota).
*/}}
{{- define "codiff.torchThreads" -}}
{{- $set := int (default 0 .Values.config.torch_threads) }}
{{- $cpu := toString (dig "limits" "cpu" "" (default (dict) .Values.resources)) }}
{{- if gt $set 0 }}
{{- $set }}
{{- else if eq $cpu "" }}
{{- 0 }}
{{- else if hasSuffix "m" $cpu }}
{{- max 1 (int (ceil (divf (float64 (trimSuffix "m" $cpu)) 1000))) }}
{{- else }}
{{- max 1 (int (ceil (float64 $cpu))) }}
{{- end }}
{{- end }}

{{/* Pods that run at the least: autoscaling.minReplicas or replicaCount. */}}
{{- define "codiff.minPods" -}}
{{- if .Values.autoscaling.enabled }}
{{- int .Values.autoscaling.minReplicas }}
{{- else }}
{{- int .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* The ServiceMonitor's job label. */}}
{{- define "codiff.jobName" -}}
{{- default (include "codiff.fullname" .) .Values.serviceMonitor.jobName }}
{{- end }}

{{/* The gRPC address the probes and `kubectl exec ... codiff` use. */}}
{{- define "codiff.localAddress" -}}
{{- if .Values.tls.enabled }}
{{- printf "localhost:%d" (int .Values.ports.grpc) }}
{{- else }}
{{- printf "127.0.0.1:%d" (int .Values.ports.grpc) }}
{{- end }}
{{- end }}

{{/*
Template-time checks of values that the schema cannot express: GPUs against
cuda: devices, TLS paths, rollout and disruption budget.
*/}}
{{- define "codiff.validate" -}}
{{- $gpus := int .Values.gpu.count }}
{{- $seen := dict }}
{{- range .Values.config.devices }}
{{- $d := toString . }}
{{- if hasPrefix "cuda" $d }}
{{- $idx := 0 }}
{{- if hasPrefix "cuda:" $d }}
{{- $idx = int (trimPrefix "cuda:" $d) }}
{{- else if ne $d "cuda" }}
{{- fail (printf "config.devices: %q is not cpu, cuda or cuda:N" $d) }}
{{- end }}
{{- if ge $idx $gpus }}
{{- fail (printf "config.devices has %s but gpu.count is %d: the pod sees GPUs cuda:0..cuda:%d only" $d $gpus (sub $gpus 1)) }}
{{- end }}
{{- $_ := set $seen (toString $idx) true }}
{{- end }}
{{- end }}
{{- if ne (len $seen) $gpus }}
{{- fail (printf "gpu.count (%d) must equal the number of distinct cuda: devices in config.devices (%d)" $gpus (len $seen)) }}
{{- end }}
{{- if hasKey .Values.config "tls" }}
{{- fail "set TLS with the chart's tls values (a Secret), not config.tls" }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $_ := required "tls.secretName is required when tls.enabled" .Values.tls.secretName }}
{{- $mp := trimSuffix "/" .Values.tls.mountPath }}
{{- if or (eq $mp "/etc/codiff") (hasPrefix "/etc/codiff/" $mp) (eq $mp "/tmp") (hasPrefix "/tmp/" $mp) }}
{{- fail (printf "tls.mountPath %s must not be inside the ConfigMap mount /etc/codiff or /tmp" $mp) }}
{{- end }}
{{- end }}
{{- $surge := toString .Values.rollingUpdate.maxSurge }}
{{- $unavail := toString .Values.rollingUpdate.maxUnavailable }}
{{- if and (has $surge (list "0" "0%")) (has $unavail (list "0" "0%")) }}
{{- fail "rollingUpdate.maxSurge and rollingUpdate.maxUnavailable cannot both be 0" }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- $min := toString .Values.podDisruptionBudget.minAvailable }}
{{- $pods := int (include "codiff.minPods" .) }}
{{- if $min }}
{{- if or (eq $min "100%") (and (not (hasSuffix "%" $min)) (ge (int $min) $pods) (ge $pods 2)) }}
{{- fail (printf "podDisruptionBudget.minAvailable %s with %d pods allows no voluntary eviction (node drains would hang)" $min $pods) }}
{{- end }}
{{- else if has (toString .Values.podDisruptionBudget.maxUnavailable) (list "0" "0%") }}
{{- fail "podDisruptionBudget.maxUnavailable 0 allows no voluntary eviction (node drains would hang)" }}
{{- end }}
{{- end }}
{{- end }}

{{/* periodSeconds, timeoutSeconds, failureThreshold of one probe. */}}
{{- define "codiff.probeTiming" -}}
periodSeconds: {{ int .periodSeconds }}
timeoutSeconds: {{ int .timeoutSeconds }}
failureThreshold: {{ int .failureThreshold }}
{{- end }}
