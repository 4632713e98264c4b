{{/*
Names, labels, images and small shared helpers. Every object of the chart is named and labelled
through these templates, so a selector written here matches what is created elsewhere.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "ecommerce.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name: the release name, followed by the chart name unless the release
name already holds it (`helm install ecommerce` gives `ecommerce-gateway`, not
`ecommerce-ecommerce-gateway`). Truncated so `<fullname>-<component>` stays a valid DNS label.
*/}}
{{- define "ecommerce.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* `<fullname>-<component>`. Call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "ecommerce.componentName" -}}
{{- printf "%s-%s" (include "ecommerce.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The `helm.sh/chart` label. */}}
{{- define "ecommerce.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Kubernetes version rendered for: `kubeVersion`, else the cluster's. */}}
{{- define "ecommerce.kubeVersion" -}}
{{- default .Capabilities.KubeVersion.Version .Values.kubeVersion -}}
{{- end -}}

{{/*
Selector labels of a component: what Services, NetworkPolicies, PDBs, AuthorizationPolicies and
topology constraints select pods by. Call with (dict "ctx" $ "component" "gateway").
*/}}
{{- define "ecommerce.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecommerce.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label of a component's objects. Call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "ecommerce.labels" -}}
{{ include "ecommerce.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ecommerce
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "ecommerce.chart" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The metadata every object gets: name, namespace, labels and the common annotations merged with
`annotations`, and `extraLabels` among the labels.
Call with (dict "ctx" $ "component" "gateway" "name" "<name>" "annotations" dict "extraLabels" dict).
*/}}
{{- define "ecommerce.metadata" -}}
name: {{ .name }}
namespace: {{ .ctx.Release.Namespace }}
labels:
  {{- include "ecommerce.labels" . | nindent 2 }}
  {{- with .extraLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (deepCopy (default dict .annotations)) (deepCopy .ctx.Values.commonAnnotations) }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
An image reference from an image block (registry, repository, tag, digest) with the chart-wide
defaults: `[registry/]repository[:tag][@digest]`. A digest pins the image; the tag stays for people.
Call with (dict "image" <block> "ctx" $ "defaultTag" "<tag>").
*/}}
{{- define "ecommerce.image" -}}
{{- $registry := default "" .image.registry -}}
{{- $tag := default .defaultTag .image.tag | toString -}}
{{- $ref := .image.repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" $registry $ref }}{{ end -}}
{{- if $tag }}{{ $ref = printf "%s:%s" $ref $tag }}{{ end -}}
{{- if .image.digest }}{{ $ref = printf "%s@%s" $ref .image.digest }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{/* The image of a service: its own block over the chart-wide `image` values. */}}
{{- define "ecommerce.serviceImage" -}}
{{- $img := dict "registry" .ctx.Values.image.registry "repository" .image.repository "tag" .image.tag "digest" .image.digest -}}
{{- include "ecommerce.image" (dict "image" $img "ctx" .ctx "defaultTag" (default .ctx.Chart.AppVersion .ctx.Values.image.tag)) -}}
{{- end -}}

{{/* `imagePullSecrets` of every pod, from `image.pullSecrets`. */}}
{{- define "ecommerce.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
A checkov skip annotation: the one place where a policy the chart does not follow is recorded,
each with its reason. Call with a list of "CKV_ID=reason" strings.
*/}}
{{- define "ecommerce.checkovSkips" -}}
{{- range $i, $skip := . }}
checkov.io/skip{{ add1 $i }}: {{ $skip | quote }}
{{- end }}
{{- end -}}

{{/* The five services of the shop, in the order they are rendered. */}}
{{- define "ecommerce.serviceNames" -}}
{{- list "gateway" "user" "product" "order" "web" | toJson -}}
{{- end -}}

{{/* The services that own a PostgreSQL database. */}}
{{- define "ecommerce.databaseServices" -}}
{{- list "user" "product" "order" | toJson -}}
{{- end -}}

{{/*
A service's settings: `serviceDefaults` with the service's own block over it. Returns YAML; use
with fromYaml. Call with (dict "ctx" $ "service" "gateway").
*/}}
{{- define "ecommerce.serviceValues" -}}
{{- $own := index .ctx.Values .service -}}
{{- toYaml (mustMergeOverwrite (deepCopy .ctx.Values.serviceDefaults) (deepCopy $own)) -}}
{{- end -}}

{{/* Whether a service's database is external ("true" or ""). */}}
{{- define "ecommerce.database.external" -}}
{{- if (index .ctx.Values.externalDatabase .service).existingSecret }}true{{ end -}}
{{- end -}}

{{/* The name of the Service of a service's bundled PostgreSQL. */}}
{{- define "ecommerce.postgresql.name" -}}
{{- include "ecommerce.componentName" (dict "ctx" .ctx "component" (printf "postgresql-%s" .service)) -}}
{{- end -}}

{{/* The port a service listens on for HTTP (every service: 8080). */}}
{{- define "ecommerce.httpPort" -}}8080{{- end -}}

{{/*
The port `/healthz`, `/readyz` and `/metrics` are served on: the gateway keeps them off its
public port, on a listener of their own (OPS_BIND_ADDR).
*/}}
{{- define "ecommerce.opsPort" -}}
{{- if eq .service "gateway" }}9090{{ else }}8080{{ end -}}
{{- end -}}
