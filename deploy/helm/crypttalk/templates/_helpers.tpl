{{- define "crypttalk.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-chart, always (chart 0.1.0 named its Secrets so: a different
     name on upgrade would generate new master keys over the live data). */}}
{{- define "crypttalk.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (default .Chart.Name .Values.nameOverride) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "crypttalk.selector" -}}
app.kubernetes.io/name: {{ include "crypttalk.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "crypttalk.labels" -}}
{{ include "crypttalk.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "crypttalk.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "crypttalk.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "crypttalk.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Cluster mode: several nodes, which must share MongoDB and Redis. */}}
{{- define "crypttalk.cluster" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled -}}true{{- end -}}
{{- end -}}

{{- define "crypttalk.hasMongo" -}}
{{- if or .Values.mongo.url .Values.mongo.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "crypttalk.hasRedis" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* Every rule values.schema.json cannot express, checked before anything
     renders; each message says what to set. */}}
{{- define "crypttalk.validate" -}}
{{- if include "crypttalk.cluster" . -}}
{{- if not (include "crypttalk.hasMongo" .) -}}
{{- fail "cluster mode (replicaCount > 1 or autoscaling.enabled) needs MongoDB: set mongo.url or mongo.existingSecret (nodes share one store); or keep replicaCount: 1 for the embedded store" -}}
{{- end -}}
{{- if not (include "crypttalk.hasRedis" .) -}}
{{- fail "cluster mode (replicaCount > 1 or autoscaling.enabled) needs Redis: set redis.url or redis.existingSecret (nodes fan out through it); or keep replicaCount: 1 for the embedded store" -}}
{{- end -}}
{{- end -}}
{{- if and (include "crypttalk.hasMongo" .) (not .Values.masterKeys.existingSecret) (not .Values.masterKeys.generate) -}}
{{- fail "MongoDB needs shared master keys: set masterKeys.existingSecret or masterKeys.generate: true" -}}
{{- end -}}
{{- $need := add (int .Values.shutdown.preStopSeconds) (int .Values.shutdown.timeoutSeconds) -}}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least shutdown.preStopSeconds + shutdown.timeoutSeconds (%d): Kubernetes would kill the node before it closed its sockets" (int .Values.terminationGracePeriodSeconds) (int $need)) -}}
{{- end -}}
{{- range $name, $_ := .Values.env -}}
{{- if has (upper $name) (list "CRYPTTALK_MASTER_KEYS" "CRYPTTALK_KEYS_MASTER_KEYS" "CRYPTTALK_ADMIN_TOKEN" "CRYPTTALK_KEYS_ADMIN_TOKEN" "MONGO_URL" "CRYPTTALK_STORE_MONGO_URL" "REDIS_URL" "CRYPTTALK_BUS_REDIS_URL") -}}
{{- fail (printf "env.%s would put a secret in the pod spec in plain text: use the chart's Secret values (masterKeys, adminToken, mongo, redis) and their existingSecret" $name) -}}
{{- end -}}
{{- end -}}
{{- range $section, $keys := dict "keys" (list "master_keys" "admin_token") "store" (list "mongo_url") "bus" (list "redis_url") -}}
{{- $conf := get $.Values.config $section | default dict -}}
{{- range $keys -}}
{{- if hasKey $conf . -}}
{{- fail (printf "config.%s.%s would put a secret in the ConfigMap: use the chart's Secret values (masterKeys, adminToken, mongo, redis) and their existingSecret" $section .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.minReplicas) 2) -}}
{{- fail "autoscaling.minReplicas must be at least 2 (one node is the embedded mode)" -}}
{{- end -}}
{{- end -}}

{{- define "crypttalk.keysSecret" -}}
{{- default (printf "%s-keys" (include "crypttalk.fullname" .)) .Values.masterKeys.existingSecret -}}
{{- end -}}

{{- define "crypttalk.adminSecret" -}}
{{- default (printf "%s-admin" (include "crypttalk.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{- define "crypttalk.signingSecret" -}}
{{- default (printf "%s-signing-key" (include "crypttalk.fullname" .)) .Values.federation.signingKey.existingSecret -}}
{{- end -}}

{{- define "crypttalk.urlSecret" -}}
{{- printf "%s-urls" (include "crypttalk.fullname" .) -}}
{{- end -}}

{{- define "crypttalk.mongoSecret" -}}
{{- default (include "crypttalk.urlSecret" .) .Values.mongo.existingSecret -}}
{{- end -}}

{{- define "crypttalk.redisSecret" -}}
{{- default (include "crypttalk.urlSecret" .) .Values.redis.existingSecret -}}
{{- end -}}

{{- define "crypttalk.hasMasterKeys" -}}
{{- if or .Values.masterKeys.existingSecret .Values.masterKeys.generate -}}true{{- end -}}
{{- end -}}

{{- define "crypttalk.hasAdminToken" -}}
{{- if or .Values.adminToken.existingSecret .Values.adminToken.generate -}}true{{- end -}}
{{- end -}}

{{- define "crypttalk.hasSigningKey" -}}
{{- if or .Values.federation.signingKey.existingSecret .Values.federation.signingKey.generate -}}true{{- end -}}
{{- end -}}

{{/* The server's config file. Secrets are not in it: they are files from
     Secrets, named by *_FILE variables. Listeners and the data dir are
     environment variables instead (the image sets them too, and the
     environment wins over the file). */}}
{{- define "crypttalk.config" -}}
{{- $base := dict
  "server" (dict
    "server_name" .Values.serverName
    "trusted_proxies" .Values.trustedProxies
    "shutdown_timeout" (printf "%ds" (int .Values.shutdown.timeoutSeconds))) -}}
{{- toYaml (mustMergeOverwrite $base (deepCopy .Values.config)) -}}
{{- end -}}
