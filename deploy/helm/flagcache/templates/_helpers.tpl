{{/* The name of every object. */}}
{{- define "flagcache.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flagcache.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flagcache.labels" -}}
{{ include "flagcache.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "flagcache.secretName" -}}
{{- .Values.auth.existingSecret | default (include "flagcache.fullname" .) -}}
{{- end -}}

{{- define "flagcache.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Refuse values that cannot work, before anything is rendered. */}}
{{- define "flagcache.validate" -}}
{{- if not (has .Values.mode (list "deployment" "sidecar")) -}}
{{- fail (printf "mode must be deployment or sidecar, not %q" .Values.mode) -}}
{{- end -}}
{{- if not (has .Values.source.kind (list "postgres" "redis" "embedded")) -}}
{{- fail (printf "source.kind must be postgres, redis or embedded, not %q" .Values.source.kind) -}}
{{- end -}}
{{- if and (not .Values.auth.existingSecret) (not .Values.auth.writeToken) -}}
{{- fail "flagcache listens on the pod IP (probes need it), which needs a token: set auth.existingSecret, or auth.writeToken" -}}
{{- end -}}
{{- if and (eq .Values.source.kind "postgres") (not .Values.auth.existingSecret) (not .Values.postgres.dsn) -}}
{{- fail "source.kind postgres needs postgres.dsn (or auth.existingSecret with the postgres.dsnKey key)" -}}
{{- end -}}
{{- if and (eq .Values.source.kind "redis") (not .Values.redis.addrs) -}}
{{- fail "source.kind redis needs redis.addrs" -}}
{{- end -}}
{{- if and (eq .Values.source.kind "embedded") (eq .Values.mode "deployment") (gt (int .Values.replicaCount) 1) -}}
{{- fail "source.kind embedded keeps flags in one pod's file: set replicaCount to 1, or use postgres" -}}
{{- end -}}
{{- if and (eq .Values.mode "sidecar") (not .Values.workload.containers) -}}
{{- fail "mode sidecar needs workload.containers (the application flagcache runs beside)" -}}
{{- end -}}
{{- end -}}

{{/* The flagcache container (a native sidecar in mode sidecar). */}}
{{- define "flagcache.container" -}}
- name: flagcache
  image: {{ include "flagcache.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if eq .Values.mode "sidecar" }}
  restartPolicy: Always # native sidecar: ready before the app starts, stopped after it
  {{- end }}
  args: ["serve"]
  env:
    - name: FLAGCACHE_CONFIG
      value: /etc/flagcache/flagcache.toml
  ports:
    - name: http
      containerPort: 8080
      protocol: TCP
  volumeMounts:
    {{- include "flagcache.volumeMounts" . | nindent 4 }}
  startupProbe:
    httpGet: {path: /readyz, port: http}
    periodSeconds: {{ .Values.probes.startup.periodSeconds }}
    failureThreshold: {{ .Values.probes.startup.failureThreshold }}
  readinessProbe:
    httpGet: {path: /readyz, port: http}
    periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
    failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
  livenessProbe:
    httpGet: {path: /healthz, port: http}
    periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
    failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- include "flagcache.containerSecurityContext" . | nindent 4 }}
{{- end -}}

{{- define "flagcache.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "flagcache.volumeMounts" -}}
- {name: flagcache-config, mountPath: /etc/flagcache, readOnly: true}
- {name: flagcache-secrets, mountPath: /etc/flagcache/secrets, readOnly: true}
{{- if eq .Values.source.kind "embedded" }}
- {name: flagcache-data, mountPath: /data}
{{- end }}
{{- end -}}

{{/* The migrate init container (postgres with postgres.migrate). */}}
{{- define "flagcache.migrate" -}}
{{- if and (eq .Values.source.kind "postgres") .Values.postgres.migrate -}}
- name: flagcache-migrate
  image: {{ include "flagcache.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["migrate"]
  env:
    - name: FLAGCACHE_CONFIG
      value: /etc/flagcache/flagcache.toml
  volumeMounts:
    {{- include "flagcache.volumeMounts" . | nindent 4 }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- include "flagcache.containerSecurityContext" . | nindent 4 }}
{{- end -}}
{{- end -}}

{{- define "flagcache.volumes" -}}
- name: flagcache-config
  configMap:
    name: {{ include "flagcache.fullname" . }}
- name: flagcache-secrets
  secret:
    secretName: {{ include "flagcache.secretName" . }}
    defaultMode: 0400
{{- if eq .Values.source.kind "embedded" }}
- name: flagcache-data
  {{- if .Values.persistence.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.persistence.existingClaim }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- end }}
{{- end -}}

{{/* The pod template's annotations. flagcache reads its config, tokens
and DSN once, at start: the checksums roll the pods when the ConfigMap or
the Secret the chart renders changes (an auth.existingSecret is the
owner's to roll). */}}
{{- define "flagcache.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.auth.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod spec's common part: security, scheduling. */}}
{{- define "flagcache.podCommon" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
