{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, prefixed with the chart name unless it already contains it. */}}
{{- define "portcullis.fullname" -}}
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

{{- define "portcullis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ include "portcullis.chart" . }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: forward-auth
app.kubernetes.io/part-of: portcullis
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "portcullis.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the config folder (ConfigMap) and the secrets (Secret) are mounted. */}}
{{- define "portcullis.configDir" -}}/etc/portcullis{{- end }}
{{- define "portcullis.secretsDir" -}}/var/run/secrets/portcullis{{- end }}

{{- define "portcullis.configMapName" -}}
{{- default (include "portcullis.fullname" .) .Values.existingConfigMap }}
{{- end }}

{{/* Is browser login configured? */}}
{{- define "portcullis.loginEnabled" -}}
{{- if not (empty .Values.config.login) }}true{{- end }}
{{- end }}

{{/* Is a session secret mounted (login needs one; a given value is used even without login)? */}}
{{- define "portcullis.sessionSecretEnabled" -}}
{{- if or (include "portcullis.loginEnabled" .) .Values.secrets.sessionSecret }}true{{- end }}
{{- end }}

{{/* Does the chart render its own Secret? */}}
{{- define "portcullis.createSecret" -}}
{{- if and (not .Values.secrets.existingSecret) (or .Values.secrets.sessionSecret .Values.secrets.clientSecret) }}true
{{- else if and .Values.redis.enabled .Values.redis.url (not .Values.redis.existingSecret) }}true
{{- else if and .Values.redis.enabled .Values.redis.cluster.urls (not .Values.redis.cluster.existingSecret) }}true
{{- else if and .Values.redis.enabled .Values.redis.sentinel.urls (not .Values.redis.sentinel.existingSecret) }}true
{{- end }}
{{- end }}

{{/*
The Redis forms the values give (url, cluster, sentinel), comma-separated; with redis.enabled
exactly one must be given (portcullis.validate).
*/}}
{{- define "portcullis.redisForms" -}}
{{- $r := .Values.redis }}
{{- $forms := list }}
{{- if or $r.url $r.existingSecret }}{{ $forms = append $forms "url" }}{{ end }}
{{- if or $r.cluster.urls $r.cluster.existingSecret }}{{ $forms = append $forms "cluster" }}{{ end }}
{{- if or $r.sentinel.urls $r.sentinel.existingSecret }}{{ $forms = append $forms "sentinel" }}{{ end }}
{{- join "," $forms }}
{{- end }}

{{/*
The environment variable that passes the Redis URL(s) from a Secret, as a dict: name, secret,
key. Lists are passed as a TOML/JSON array, which the configuration's environment overrides read.
*/}}
{{- define "portcullis.redisEnv" -}}
{{- $r := .Values.redis }}
{{- $form := include "portcullis.redisForms" . }}
{{- $own := include "portcullis.fullname" . }}
{{- if eq $form "cluster" }}
{{- toJson (dict "name" "PORTCULLIS_SESSION__REDIS_CLUSTER_URLS" "secret" (default $own $r.cluster.existingSecret) "key" (ternary $r.cluster.existingSecretKey "redis-cluster-urls" (not (empty $r.cluster.existingSecret)))) }}
{{- else if eq $form "sentinel" }}
{{- toJson (dict "name" "PORTCULLIS_SESSION__REDIS_SENTINEL_URLS" "secret" (default $own $r.sentinel.existingSecret) "key" (ternary $r.sentinel.existingSecretKey "redis-sentinel-urls" (not (empty $r.sentinel.existingSecret)))) }}
{{- else }}
{{- toJson (dict "name" "PORTCULLIS_SESSION__REDIS_URL" "secret" (default $own $r.existingSecret) "key" (ternary $r.existingSecretKey "redis-url" (not (empty $r.existingSecret)))) }}
{{- end }}
{{- end }}

{{/* Where the Redis CA (redis.ca) is mounted. */}}
{{- define "portcullis.redisCaDir" -}}/var/run/secrets/redis-ca{{- end }}

{{/* The Secret holding session and client secrets, if any. */}}
{{- define "portcullis.secretName" -}}
{{- default (include "portcullis.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Is a secret volume mounted at all? */}}
{{- define "portcullis.mountSecret" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.sessionSecret .Values.secrets.clientSecret }}true{{- end }}
{{- end }}

{{/* Refuse combinations that would only fail at start-up. */}}
{{- define "portcullis.validate" -}}
{{- if include "portcullis.loginEnabled" . }}
{{- if not .Values.secrets.existingSecret }}
{{- if not .Values.secrets.sessionSecret }}
{{- fail "config.login is set: give secrets.sessionSecret (make one with `portcullis secret`) or secrets.existingSecret" }}
{{- end }}
{{- if not .Values.secrets.clientSecret }}
{{- fail "config.login is set: give secrets.clientSecret or secrets.existingSecret" }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.grpc.enabled (eq (int .Values.grpc.port) (int .Values.containerPort)) }}
{{- fail "grpc.port must differ from containerPort" }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- $forms := include "portcullis.redisForms" . }}
{{- if not $forms }}
{{- fail "redis.enabled: give one of redis.url (or redis.existingSecret), redis.cluster.urls (or redis.cluster.existingSecret) and redis.sentinel.urls (or redis.sentinel.existingSecret)" }}
{{- else if contains "," $forms }}
{{- fail (printf "redis: give only one of redis.url, redis.cluster and redis.sentinel (found %s)" (replace "," ", " $forms)) }}
{{- end }}
{{- if and (eq $forms "sentinel") (not .Values.redis.sentinel.master) }}
{{- fail "redis.sentinel: give redis.sentinel.master, the master name the sentinels monitor" }}
{{- end }}
{{- if and .Values.redis.sentinel.master (ne $forms "sentinel") }}
{{- fail "redis.sentinel.master is set but redis.sentinel.urls and redis.sentinel.existingSecret are not" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
portcullis.toml, rendered from .Values.config plus the keys the chart owns: the listen addresses,
the rule file, and the *_file paths of mounted secrets.
*/}}
{{- define "portcullis.configToml" -}}
{{- $c := deepCopy .Values.config }}
{{- $server := default (dict) $c.server }}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- if .Values.grpc.enabled }}
{{- $_ := set $server "grpc_listen" (printf "0.0.0.0:%d" (int .Values.grpc.port)) }}
{{- end }}
{{- /* Numbers from values files are floats to Helm; TOML needs this one as an integer. */}}
{{- if hasKey $server "max_connections" }}
{{- $_ := set $server "max_connections" (int64 $server.max_connections) }}
{{- end }}
{{- $_ := set $c "server" $server }}
{{- $rules := default (dict) $c.rules }}
{{- $_ := set $rules "paths" (list "rules.yaml") }}
{{- $_ := set $c "rules" $rules }}
{{- $session := default (dict) $c.session }}
{{- if include "portcullis.sessionSecretEnabled" . }}
{{- $_ := set $session "secret_file" (printf "%s/%s" (include "portcullis.secretsDir" .) .Values.secrets.sessionSecretKey) }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- $_ := set $session "store" "redis" }}
{{- with .Values.redis.sentinel.master }}
{{- $_ := set $session "redis_sentinel_master" . }}
{{- end }}
{{- if .Values.redis.ca.existingSecret }}
{{- $_ := set $session "redis_ca_file" (printf "%s/%s" (include "portcullis.redisCaDir" .) .Values.redis.ca.existingSecretKey) }}
{{- end }}
{{- end }}
{{- $_ := set $c "session" $session }}
{{- if include "portcullis.loginEnabled" . }}
{{- $_ := set $c.login "client_secret_file" (printf "%s/%s" (include "portcullis.secretsDir" .) .Values.secrets.clientSecretKey) }}
{{- else }}
{{- $_ := unset $c "login" }}
{{- end }}
{{- if empty $c.issuers }}
{{- $_ := unset $c "issuers" }}
{{- end }}
{{- printf "# Rendered by the Portcullis Helm chart from the release's values (`config`).\n%s" (regexReplaceAll "(?m)[ \t]+$" (toToml $c) "") }}
{{- end }}
