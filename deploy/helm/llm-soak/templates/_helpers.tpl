{{- define "llm-soak.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llm-soak.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "llm-soak.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "llm-soak.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llm-soak
{{- end -}}

{{- define "llm-soak.selector" -}}
app.kubernetes.io/name: {{ include "llm-soak.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "llm-soak.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "llm-soak.configMap" -}}
{{- .Values.config.existingConfigMap | default (printf "%s-config" (include "llm-soak.fullname" .)) -}}
{{- end -}}

{{/* The container parts both workloads share: image, env, port, security. */}}
{{- define "llm-soak.container" -}}
image: {{ include "llm-soak.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
ports:
  - name: http-metrics
    containerPort: 9464
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end -}}

{{- define "llm-soak.apiKeyEnv" -}}
{{- if .Values.apiKey.existingSecret }}
- name: LLM_SOAK_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.apiKey.existingSecret }}
      key: {{ .Values.apiKey.key }}
{{- end }}
{{- end -}}

{{/* The sidecar's container and volume, for the server's pod (printed in NOTES). */}}
{{- define "llm-soak.sidecar" -}}
containers:
  - name: llm-soak-sidecar
    image: {{ include "llm-soak.image" . }}
    args: ["run", "-c", "/etc/llm-soak/canary-sidecar.toml"]
    env:
      - name: NVIDIA_VISIBLE_DEVICES
        value: {{ .Values.sidecar.visibleDevices | quote }}
      - name: NVIDIA_DRIVER_CAPABILITIES
        value: utility
    ports:
      - name: http-metrics
        containerPort: 9464
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    resources:
      {{- toYaml .Values.sidecar.resources | nindent 6 }}
    volumeMounts:
      - name: llm-soak-sidecar-config
        mountPath: /etc/llm-soak
        readOnly: true
volumes:
  - name: llm-soak-sidecar-config
    configMap:
      name: {{ include "llm-soak.fullname" . }}-sidecar
{{- end -}}
