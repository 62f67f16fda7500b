{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "tdsproxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "tdsproxy.fullname" -}}
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

{{- define "tdsproxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tdsproxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tdsproxy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tdsproxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* tdsproxy.yaml, the proxy's configuration file (keys: docs/configuration.md). */}}
{{- define "tdsproxy.configFile" -}}
{{- if not .Values.primary }}
{{- fail "set primary: the SQL Server (or availability-group listener) HOST:PORT" }}
{{- end }}
{{- if and (ne .Values.mode "service") (ne .Values.mode "sidecar") }}
{{- fail (printf "mode must be service or sidecar, not %q" .Values.mode) }}
{{- end }}
{{- $cfg := dict }}
{{- if eq .Values.mode "sidecar" }}
{{- $_ := set $cfg "listen" (printf "%s:%d" .Values.sidecar.listenAddress (int .Values.port)) }}
{{- else }}
{{- $_ := set $cfg "listen" (printf ":%d" (int .Values.port)) }}
{{- end }}
{{- $_ := set $cfg "primary" .Values.primary }}
{{- $_ := set $cfg "replicas" .Values.replicas }}
{{- $_ := set $cfg "admin-listen" (printf ":%d" (int .Values.admin.port)) }}
{{- $_ := set $cfg "shutdown-grace" (printf "%ds" (int .Values.shutdownGraceSeconds)) }}
{{- if .Values.tls.secretName }}
{{- $_ := set $cfg "tls-cert" "/etc/tdsproxy/tls/tls.crt" }}
{{- $_ := set $cfg "tls-key" "/etc/tdsproxy/tls/tls.key" }}
{{- end }}
{{- if or .Values.backendCA.configMapName .Values.backendCA.secretName }}
{{- $_ := set $cfg "backend-ca-file" (printf "/etc/tdsproxy/backend-ca/%s" .Values.backendCA.key) }}
{{- end }}
{{- if .Values.policy.configMapName }}
{{- $files := list }}
{{- range .Values.policy.files }}
{{- $files = append $files (printf "/etc/tdsproxy/policy/%s" .) }}
{{- end }}
{{- $_ := set $cfg "policy-files" $files }}
{{- end }}
{{- $cfg = merge (deepCopy .Values.config) $cfg }}
{{- toYaml $cfg }}
{{- end }}

{{/*
tdsproxy.container is the proxy container. The Deployment uses it; in sidecar mode
add it to an application's pod (from a parent chart: {{ include "tdsproxy.container" . }}
under the pod's containers, and {{ include "tdsproxy.volumes" . }} under its volumes).
*/}}
{{- define "tdsproxy.container" -}}
- name: tdsproxy
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["serve", "--config", "/etc/tdsproxy/config/tdsproxy.yaml"]
  {{- with .Values.env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: tds
      containerPort: {{ .Values.port }}
      protocol: TCP
    - name: admin
      containerPort: {{ .Values.admin.port }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /healthz
      port: admin
    periodSeconds: 10
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /readyz
      port: admin
    periodSeconds: 5
    failureThreshold: 2
  startupProbe:
    httpGet:
      path: /healthz
      port: admin
    periodSeconds: 2
    failureThreshold: 30
  {{- if gt (int .Values.preStopSleepSeconds) 0 }}
  lifecycle:
    preStop:
      sleep:
        seconds: {{ .Values.preStopSleepSeconds }}
  {{- end }}
  {{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: tdsproxy-config
      mountPath: /etc/tdsproxy/config
      readOnly: true
    {{- if .Values.tls.secretName }}
    - name: tdsproxy-tls
      mountPath: /etc/tdsproxy/tls
      readOnly: true
    {{- end }}
    {{- if or .Values.backendCA.configMapName .Values.backendCA.secretName }}
    - name: tdsproxy-backend-ca
      mountPath: /etc/tdsproxy/backend-ca
      readOnly: true
    {{- end }}
    {{- if .Values.policy.configMapName }}
    - name: tdsproxy-policy
      mountPath: /etc/tdsproxy/policy
      readOnly: true
    {{- end }}
{{- end }}

{{/* tdsproxy.volumes are the volumes tdsproxy.container mounts. */}}
{{- define "tdsproxy.volumes" -}}
- name: tdsproxy-config
  configMap:
    name: {{ include "tdsproxy.fullname" . }}
{{- if .Values.tls.secretName }}
- name: tdsproxy-tls
  secret:
    secretName: {{ .Values.tls.secretName }}
{{- end }}
{{- if .Values.backendCA.configMapName }}
- name: tdsproxy-backend-ca
  configMap:
    name: {{ .Values.backendCA.configMapName }}
{{- else if .Values.backendCA.secretName }}
- name: tdsproxy-backend-ca
  secret:
    secretName: {{ .Values.backendCA.secretName }}
{{- end }}
{{- if .Values.policy.configMapName }}
- name: tdsproxy-policy
  configMap:
    name: {{ .Values.policy.configMapName }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds: preStop sleep + shutdown grace + 10s to close. */}}
{{- define "tdsproxy.terminationGrace" -}}
{{- add (int .Values.preStopSleepSeconds) (int .Values.shutdownGraceSeconds) 10 }}
{{- end }}
