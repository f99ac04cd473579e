{{/* The name of every object: the release's name when it says driftbot, else release-driftbot. */}}
{{- define "driftbot.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "driftbot.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "driftbot.labels" -}}
{{ include "driftbot.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "driftbot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "driftbot.secretName" -}}
{{- default (include "driftbot.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{/*
The pod of one process: {{ include "driftbot.pod" (dict "root" $ "process" "worker" "container" $extra) }}
where $extra is the container's own part (ports, probes) as YAML text.
*/}}
{{- define "driftbot.pod" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "driftbot.selectorLabels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .process }}
  annotations:
    # A changed driftbot.toml or Secret restarts the pods (the processes read them at start).
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- with $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .grace }}
  terminationGracePeriodSeconds: {{ . }}
  {{- end }}
  containers:
    - name: {{ .process }}
      image: {{ include "driftbot.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: [{{ .process | quote }}]
      envFrom:
        - secretRef:
            name: {{ include "driftbot.secretName" $root }}
      env:
        - {name: DRIFTBOT_CONFIG, value: /etc/driftbot/driftbot.toml}
        {{- range $name, $value := .env }}
        - {name: {{ $name }}, value: {{ $value | toString | quote }}}
        {{- end }}
        {{- range $name, $value := $root.Values.extraEnv }}
        - {name: {{ $name }}, value: {{ $value | toString | quote }}}
        {{- end }}
      {{- .container | nindent 6 }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      volumeMounts:
        - {name: config, mountPath: /etc/driftbot, readOnly: true}
        - {name: tmp, mountPath: /tmp}  # the root file system is read-only
        - {name: cache, mountPath: /var/lib/driftbot}  # home: the git cache, gunicorn's control socket
  volumes:
    - name: config
      configMap:
        name: {{ include "driftbot.fullname" $root }}-config
    - name: tmp
      emptyDir: {}
    - name: cache
      emptyDir: {}
  {{- with $root.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
