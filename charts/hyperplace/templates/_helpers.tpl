{{/*
Names. The chart's name, and the full name of the release's objects: the release name, with the
chart's name appended unless the release name contains it (release "hyperplace" -> hyperplace).
Kubernetes names are at most 63 characters for some fields, so both are cut there.
*/}}
{{- define "hyperplace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hyperplace.fullname" -}}
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

{{- define "hyperplace.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* hyperplace's scheduler: its objects, lease and name label. */}}
{{- define "hyperplace.schedulerFullname" -}}
{{- printf "%s-scheduler" (include "hyperplace.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hyperplace.schedulerName" -}}
{{- printf "%s-scheduler" (include "hyperplace.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hyperplace.serviceAccountName" -}}
{{- default (include "hyperplace.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "hyperplace.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "hyperplace.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "hyperplace.schedulerTLSSecretName" -}}
{{- default (printf "%s-tls" (include "hyperplace.schedulerFullname" .)) .Values.scheduler.tls.secretName }}
{{- end }}

{{/*
The MutatingWebhookConfiguration's name must sort before Kueue's (the API server calls them in
name order): <fullname>-mutating-webhook, prefixed with "hyperplace-" unless the full name starts
with it ("h" sorts before "kueue-").
*/}}
{{- define "hyperplace.webhookName" -}}
{{- $base := include "hyperplace.fullname" . }}
{{- if not (hasPrefix "hyperplace" $base) }}
{{- $base = printf "hyperplace-%s" $base }}
{{- end }}
{{- default (printf "%s-mutating-webhook" $base) .Values.webhook.name }}
{{- end }}

{{/*
Labels. Selector labels are app.kubernetes.io/name (and app.kubernetes.io/instance with
helmLabels); the others are added to every object. "hyperplace.schedulerSelectorLabels" and
"hyperplace.schedulerLabels" are the same for hyperplace's scheduler, named <name>-scheduler
(the NetworkPolicy admits pods with that label to the extender).
*/}}
{{- define "hyperplace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hyperplace.name" . }}
{{- if .Values.helmLabels }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- end }}

{{- define "hyperplace.schedulerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "hyperplace.schedulerName" . }}
{{- if .Values.helmLabels }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- end }}

{{- define "hyperplace.commonLabels" -}}
{{- if .Values.helmLabels }}
helm.sh/chart: {{ include "hyperplace.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "hyperplace.labels" -}}
{{ include "hyperplace.selectorLabels" . }}
{{- with include "hyperplace.commonLabels" . | trim }}
{{ . }}
{{- end }}
{{- end }}

{{- define "hyperplace.schedulerLabels" -}}
{{ include "hyperplace.schedulerSelectorLabels" . }}
{{- with include "hyperplace.commonLabels" . | trim }}
{{ . }}
{{- end }}
{{- end }}

{{/* The image reference: repository, then @digest or :tag (default: the appVersion). */}}
{{- define "hyperplace.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
hyperplace's configuration file, exactly as the ConfigMap carries it; the Deployment's checksum
annotation hashes it, so a changed value rolls the pods.
*/}}
{{- define "hyperplace.configYAML" -}}
{{- include "hyperplace.sortedYAML" .Values.config | trim }}
{{- end }}

{{/*
A map as block YAML with its keys in byte order at every level. toYaml is not enough here: its
key order is not stable for keys like ml.g5.2xlarge and ml.g5.12xlarge (it changes between runs),
which would change the checksum annotation, and roll the pods, on every upgrade. Lists keep their
order; scalars, empty maps and empty lists are toYaml's.
*/}}
{{- define "hyperplace.sortedYAML" -}}
{{- $m := . }}
{{- range $k := keys $m | sortAlpha }}
{{- $v := index $m $k }}
{{- if and (kindIs "map" $v) $v }}
{{ toYaml $k }}:
{{- include "hyperplace.sortedYAML" $v | trim | nindent 2 }}
{{- else if and (kindIs "slice" $v) $v }}
{{ toYaml $k }}:
{{- range $v }}
{{- if and (kindIs "map" .) . }}
- {{ include "hyperplace.sortedYAML" . | indent 2 | trim }}
{{- else }}
- {{ toYaml . }}
{{- end }}
{{- end }}
{{- else }}
{{ toYaml $k }}: {{ toYaml $v }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The webhook's caBundle without cert-manager: webhook.caBundle, else at install and upgrade the
provided Secret's ca.crt (helm template has no cluster to read it from); "" when neither.
*/}}
{{- define "hyperplace.caBundle" -}}
{{- $caBundle := .Values.webhook.caBundle }}
{{- if and (not $caBundle) (not .Values.certManager.enabled) }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "hyperplace.tlsSecretName" .) }}
{{- if $secret }}
{{- $caBundle = index ($secret.data | default dict) "ca.crt" | default "" }}
{{- end }}
{{- end }}
{{- $caBundle }}
{{- end }}

{{/* The port of a HOST:PORT listen address; fails naming the key if there is none. */}}
{{- define "hyperplace.port" -}}
{{- $addr := index . 0 }}
{{- $key := index . 1 }}
{{- if not $addr }}
{{- fail (printf "%s must be set (HOST:PORT): the chart derives a container port from it" $key) }}
{{- end }}
{{- $port := splitList ":" (toString $addr) | last }}
{{- if not (regexMatch "^[0-9]+$" $port) }}
{{- fail (printf "%s is %q: want HOST:PORT" $key $addr) }}
{{- end }}
{{- $port }}
{{- end }}

{{/*
Checks that span values, run by every template that depends on them (a failed check names the
values to change).
*/}}
{{- define "hyperplace.validate" -}}
{{- $webhookName := include "hyperplace.webhookName" . }}
{{- if not (lt $webhookName "kueue-mutating-webhook-configuration") }}
{{- fail (printf "webhook.name %q must sort before kueue-mutating-webhook-configuration: the API server calls mutating webhooks in name order, and Kueue's must see the queue-name label hyperplace adds" $webhookName) }}
{{- end }}
{{- if .Values.scheduler.enabled }}
{{- if not (has .Values.scheduler.name .Values.config.extender.schedulerNames) }}
{{- fail (printf "scheduler.name %q is not in config.extender.schedulerNames %v: hyperplace would refuse to bind its pods" .Values.scheduler.name .Values.config.extender.schedulerNames) }}
{{- end }}
{{- $e := .Values.config.extender }}
{{- if not (and $e.tlsCertFile $e.tlsPrivateKeyFile $e.clientCAFile) }}
{{- fail "scheduler.enabled needs config.extender.tlsCertFile, tlsPrivateKeyFile and clientCAFile: the scheduler calls the extender over HTTPS with a client certificate, and without clientCAFile any caller that reaches the port could call /bind" }}
{{- end }}
{{- $sent := .Values.config.webhook.schedulerName }}
{{- if and $sent (ne $sent .Values.scheduler.name) }}
{{- fail (printf "config.webhook.schedulerName %q is not scheduler.name %q: the webhook would send team pods to a scheduler the chart does not run, and they would stay Pending" $sent .Values.scheduler.name) }}
{{- end }}
{{- end }}
{{- if and .Values.webhook.enabled (not .Values.config.webhook.tlsCertFile) }}
{{- fail "webhook.enabled needs config.webhook.tlsCertFile and tlsPrivateKeyFile: the API server calls the webhook over HTTPS" }}
{{- end }}
{{- end }}
