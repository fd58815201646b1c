{{- define "crypttalk.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "crypttalk.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "crypttalk.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "crypttalk.keysSecret" -}}
{{- default (printf "%s-keys" (include "crypttalk.fullname" .)) .Values.masterKeys.existingSecret -}}
{{- end -}}

{{- define "crypttalk.adminSecret" -}}
{{- default (printf "%s-admin" (include "crypttalk.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{- define "crypttalk.urlSecret" -}}
{{- printf "%s-urls" (include "crypttalk.fullname" .) -}}
{{- end -}}
