{{/* Names and labels */}}

{{- define "auspice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release "auspice" of chart "auspice" is plainly "auspice": the Service the examples call. */}}
{{- define "auspice.fullname" -}}
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

{{- define "auspice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "auspice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "auspice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "auspice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: auspice
{{- end -}}

{{- define "auspice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "auspice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "auspice.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Paths inside the container. Every file the serve configuration names is mounted. */}}
{{- define "auspice.configDir" -}}/etc/auspice/config{{- end -}}
{{- define "auspice.tokensDir" -}}/etc/auspice/tokens{{- end -}}
{{- define "auspice.templatesDir" -}}/etc/auspice/templates{{- end -}}
{{- define "auspice.tlsDir" -}}/etc/auspice/tls{{- end -}}
{{- define "auspice.spokesDir" -}}/etc/auspice/spokes{{- end -}}
{{- define "auspice.gitSecretDir" -}}/etc/auspice/git{{- end -}}
{{- define "auspice.sshDir" -}}/etc/auspice/ssh{{- end -}}
{{- define "auspice.stateDir" -}}/var/lib/auspice{{- end -}}
{{- define "auspice.gitCacheDir" -}}/var/cache/auspice/git{{- end -}}

{{/* Secrets and objects the chart refers to */}}

{{/*
"true" when the service reads tokens at all: always, unless config.auth.allowAnonymous is
set and no Secret is named or created. The Secret is the chart's when tokens.callers are
given, else one you create (named tokens.existingSecret, default <fullname>-tokens); the
pod waits for it rather than start without callers.
*/}}
{{- define "auspice.tokensUsed" -}}
{{- $anonymous := dig "auth" "allowAnonymous" "" (.Values.config | default dict) -}}
{{- if or .Values.tokens.existingSecret .Values.tokens.callers (not $anonymous) -}}true{{- end -}}
{{- end -}}

{{- define "auspice.tokensFileMounted" -}}
{{- if and (include "auspice.tokensUsed" .) (not .Values.tokens.readThroughApi) -}}true{{- end -}}
{{- end -}}

{{- define "auspice.tokensSecretName" -}}
{{- default (printf "%s-tokens" (include "auspice.fullname" .)) .Values.tokens.existingSecret -}}
{{- end -}}

{{- define "auspice.stateUrlSecretName" -}}
{{- default (printf "%s-state" (include "auspice.fullname" .)) .Values.state.existingSecret.name -}}
{{- end -}}

{{- define "auspice.stateUrlSecretKey" -}}
{{- if .Values.state.existingSecret.name -}}{{ .Values.state.existingSecret.key }}{{- else -}}url{{- end -}}
{{- end -}}

{{/* "true" when the state lives in the external store rather than on the volume */}}
{{- define "auspice.externalState" -}}
{{- if or .Values.state.url .Values.state.existingSecret.name -}}true{{- end -}}
{{- end -}}

{{- define "auspice.leaderElection" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.leaderElection.enabled -}}true{{- end -}}
{{- end -}}

{{- define "auspice.leaseName" -}}
{{- default (printf "%s-leader" (include "auspice.fullname" .)) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- define "auspice.argocdNamespace" -}}
{{- default .Release.Namespace .Values.rollouts.clusters.argocd.namespace -}}
{{- end -}}

{{/* "true" when the pod talks to the hub's API server, so it needs its token mounted */}}
{{- define "auspice.needsApi" -}}
{{- $r := .Values.rollouts -}}
{{- if or (and .Values.tokens.readThroughApi (include "auspice.tokensUsed" .)) (include "auspice.leaderElection" .) (and $r.enabled (or $r.clusters.argocd.enabled $r.clusters.inCluster.enabled $r.nudge)) -}}true{{- end -}}
{{- end -}}

{{/* Refuse values the service would refuse at start, with the value to change. */}}
{{- define "auspice.checks" -}}
{{- if and .Values.tokens.existingSecret .Values.tokens.callers -}}
{{- fail "tokens.callers and tokens.existingSecret are both set: the chart creates the tokens Secret from callers, or mounts yours; choose one" -}}
{{- end -}}
{{- if .Values.rollouts.enabled -}}
{{- $c := .Values.rollouts.clusters -}}
{{- if not (or $c.argocd.enabled $c.kubeconfig.existingSecret $c.inCluster.enabled) -}}
{{- fail "rollouts.enabled needs a cluster source: rollouts.clusters.argocd.enabled, rollouts.clusters.kubeconfig.existingSecret or rollouts.clusters.inCluster.enabled" -}}
{{- end -}}
{{- if and $c.kubeconfig.contexts (not $c.kubeconfig.existingSecret) -}}
{{- fail "rollouts.clusters.kubeconfig.contexts needs rollouts.clusters.kubeconfig.existingSecret (the kubeconfig they label)" -}}
{{- end -}}
{{- if and (ne .Values.rollouts.git.auth "none") (not .Values.rollouts.git.existingSecret) -}}
{{- fail (printf "rollouts.git.auth %s needs rollouts.git.existingSecret" .Values.rollouts.git.auth) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The serve configuration: the user's `config` plus everything the chart owns (listen,
store, templates, auth, tls, rollouts), each path pointing at a mounted volume.
*/}}
{{- define "auspice.serveConfig" -}}
{{- $c := deepCopy (.Values.config | default dict) -}}
{{- $_ := set $c "listen" (dict "host" "0.0.0.0" "port" (int .Values.containerPort)) -}}
{{- $_ := set $c "store" (dict "path" (printf "%s/state.db" (include "auspice.stateDir" .))) -}}
{{- if .Values.templates -}}
{{- $_ := set $c "templates" (dict "directory" (include "auspice.templatesDir" .)) -}}
{{- end -}}
{{- if .Values.tls.existingSecret -}}
{{- $dir := include "auspice.tlsDir" . -}}
{{- $_ := set $c "tls" (dict "certFile" (printf "%s/tls.crt" $dir) "keyFile" (printf "%s/tls.key" $dir)) -}}
{{- end -}}
{{- $auth := deepCopy (get $c "auth" | default dict) -}}
{{- if and (include "auspice.tokensUsed" .) .Values.tokens.readThroughApi -}}
{{- $_ := set $auth "kubernetesSecret" (dict "namespace" .Release.Namespace "name" (include "auspice.tokensSecretName" .) "key" .Values.tokens.key) -}}
{{- else if include "auspice.tokensUsed" . -}}
{{- $_ := set $auth "tokensFile" (printf "%s/%s" (include "auspice.tokensDir" .) .Values.tokens.key) -}}
{{- end -}}
{{- $_ := set $c "auth" $auth -}}
{{- if .Values.rollouts.enabled -}}
{{- $r := .Values.rollouts -}}
{{- $clusters := dict -}}
{{- if $r.clusters.argocd.enabled -}}
{{- $_ := set $clusters "argocd" (dict "namespace" (include "auspice.argocdNamespace" .)) -}}
{{- end -}}
{{- if $r.clusters.kubeconfig.existingSecret -}}
{{- $_ := set $clusters "kubeconfig" (printf "%s/kubeconfig" (include "auspice.spokesDir" .)) -}}
{{- if $r.clusters.kubeconfig.contexts -}}
{{- $_ := set $clusters "labelsFile" (printf "%s/clusters.yaml" (include "auspice.spokesDir" .)) -}}
{{- end -}}
{{- end -}}
{{- if $r.clusters.inCluster.enabled -}}
{{- $_ := set $clusters "inCluster" (dict "name" $r.clusters.inCluster.name "labels" ($r.clusters.inCluster.labels | default dict)) -}}
{{- end -}}
{{- $git := dict "cacheDir" (include "auspice.gitCacheDir" .) "authorName" $r.git.authorName "authorEmail" $r.git.authorEmail -}}
{{- if eq $r.git.auth "token" -}}
{{- $_ := set $git "tokenFile" (printf "%s/token" (include "auspice.gitSecretDir" .)) -}}
{{- $_ := set $git "username" $r.git.username -}}
{{- else if eq $r.git.auth "ssh" -}}
{{- $_ := set $git "sshKeyFile" (printf "%s/id" (include "auspice.sshDir" .)) -}}
{{- $_ := set $git "knownHostsFile" (printf "%s/known_hosts" (include "auspice.gitSecretDir" .)) -}}
{{- end -}}
{{- $_ := set $c "rollouts" (dict "clusters" $clusters "git" $git "requestTimeout" $r.requestTimeout) -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* The container securityContext, shared by every container of the chart. */}}
{{- define "auspice.containerSecurityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}
