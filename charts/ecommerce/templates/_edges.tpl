{{/*
The one list of who may talk to whom. The NetworkPolicies (networkpolicies.yaml) and the Istio
AuthorizationPolicies (istio.yaml) are both rendered from it, and tests/test_edges.py compares the
rendered objects with the design's list, so the three cannot drift apart.

An edge is {from, to, port, protocol, paths, notPaths}. `from` and `to` are components of the
release (their `app.kubernetes.io/component` label) or peers outside it:
  ingress-controller, istio-ingressgateway, monitoring, dns, otel-collector, istiod,
  external-database-<service>, external-redis, external-rabbitmq.
`paths`/`notPaths` narrow an HTTP edge for the AuthorizationPolicies (NetworkPolicies see ports).
*/}}

{{/* The components of the release that run pods (JSON list). */}}
{{- define "ecommerce.components" -}}
{{- $c := include "ecommerce.serviceNames" . | fromJsonArray -}}
{{- range $svc := include "ecommerce.databaseServices" . | fromJsonArray -}}
{{- if not (include "ecommerce.database.external" (dict "ctx" $ "service" $svc)) }}{{ $c = append $c (printf "postgresql-%s" $svc) }}{{ end -}}
{{- if $.Values.migrations.enabled }}{{ $c = append $c (printf "migrate-%s" $svc) }}{{ end -}}
{{- end -}}
{{- if .Values.redis.enabled }}{{ $c = append $c "redis" }}{{ end -}}
{{- if .Values.rabbitmq.enabled }}{{ $c = append $c "rabbitmq" }}{{ end -}}
{{- if .Values.seed.enabled }}{{ $c = append $c "seed" }}{{ end -}}
{{- if .Values.admin.create }}{{ $c = append $c "create-admin" }}{{ end -}}
{{- toJson $c -}}
{{- end -}}

{{/* The edges (JSON list). */}}
{{- define "ecommerce.edges" -}}
{{- $v := .Values -}}
{{- $services := include "ecommerce.serviceNames" . | fromJsonArray -}}
{{- $e := list -}}
{{- /* The way in. */ -}}
{{- if $v.ingress.enabled }}{{ $e = append $e (dict "from" "ingress-controller" "to" "gateway" "port" 8080) }}{{ end -}}
{{- if $v.istio.enabled }}{{ $e = append $e (dict "from" "istio-ingressgateway" "to" "gateway" "port" 8080) }}{{ end -}}
{{- /* The gateway proxies the public API and the storefront; never /internal/* or ops paths. */ -}}
{{- range $to := list "user" "product" "order" "web" -}}
{{- $e = append $e (dict "from" "gateway" "to" $to "port" 8080 "notPaths" (list "/internal/*" "/metrics" "/healthz" "/readyz")) -}}
{{- end -}}
{{- /* The order service prices carts and reserves stock through the product service's internal API. */ -}}
{{- $e = append $e (dict "from" "order" "to" "product" "port" 8080 "paths" (list "/internal/*")) -}}
{{- /* Each service, and the Jobs working on its data, to its own database. */ -}}
{{- range $svc := include "ecommerce.databaseServices" $ | fromJsonArray -}}
{{- $ext := index $v.externalDatabase $svc -}}
{{- $db := ternary (printf "external-database-%s" $svc) (printf "postgresql-%s" $svc) (eq (include "ecommerce.database.external" (dict "ctx" $ "service" $svc)) "true") -}}
{{- $port := ternary (int $ext.port) 5432 (hasPrefix "external" $db) -}}
{{- $e = append $e (dict "from" $svc "to" $db "port" $port) -}}
{{- if $v.migrations.enabled }}{{ $e = append $e (dict "from" (printf "migrate-%s" $svc) "to" $db "port" $port) }}{{ end -}}
{{- if and (eq $svc "product") $v.seed.enabled }}{{ $e = append $e (dict "from" "seed" "to" $db "port" $port) }}{{ end -}}
{{- if and (eq $svc "user") $v.admin.create }}{{ $e = append $e (dict "from" "create-admin" "to" $db "port" $port) }}{{ end -}}
{{- end -}}
{{- /* The product service caches in Redis (and the seed Job clears what it changes). */ -}}
{{- $redis := ternary "redis" "external-redis" (eq (toString $v.redis.enabled) "true") -}}
{{- $redisPort := ternary 6379 (int $v.externalRedis.port) $v.redis.enabled -}}
{{- $e = append $e (dict "from" "product" "to" $redis "port" $redisPort) -}}
{{- if $v.seed.enabled }}{{ $e = append $e (dict "from" "seed" "to" $redis "port" $redisPort) }}{{ end -}}
{{- /* Order events: the order service publishes, the product service consumes. */ -}}
{{- $mq := ternary "rabbitmq" "external-rabbitmq" (eq (toString $v.rabbitmq.enabled) "true") -}}
{{- $mqPort := ternary 5672 (int $v.externalRabbitmq.port) $v.rabbitmq.enabled -}}
{{- range $from := list "product" "order" }}{{ $e = append $e (dict "from" $from "to" $mq "port" $mqPort) }}{{ end -}}
{{- /* Traces, metrics, the mesh's control plane. */ -}}
{{- range $svc := $services -}}
{{- if $v.telemetry.otlpEndpoint }}{{ $e = append $e (dict "from" $svc "to" "otel-collector" "port" (int $v.networkPolicy.otelCollector.port)) }}{{ end -}}
{{- if $v.monitoring.enabled }}{{ $e = append $e (dict "from" "monitoring" "to" $svc "port" (int (include "ecommerce.opsPort" (dict "service" $svc))) "paths" (list "/metrics")) }}{{ end -}}
{{- if $v.istio.enabled }}{{ $e = append $e (dict "from" $svc "to" "istiod" "port" 15012) }}{{ end -}}
{{- end -}}
{{- /* Every pod resolves names. */ -}}
{{- range $c := include "ecommerce.components" $ | fromJsonArray -}}
{{- $e = append $e (dict "from" $c "to" "dns" "port" 53 "protocol" "UDP") -}}
{{- $e = append $e (dict "from" $c "to" "dns" "port" 53 "protocol" "TCP") -}}
{{- end -}}
{{- toJson $e -}}
{{- end -}}

{{/*
The NetworkPolicy peer for one end of an edge. Call with (dict "ctx" $ "peer" "<name>").
*/}}
{{- define "ecommerce.networkPeer" -}}
{{- $v := .ctx.Values -}}
{{- $np := $v.networkPolicy -}}
{{- $outside := dict
  "ingress-controller" $np.ingressController
  "monitoring" $np.monitoring
  "dns" $np.dns
  "otel-collector" $np.otelCollector
  "istiod" $v.istio.controlPlane
  "istio-ingressgateway" $v.istio.ingressGateway -}}
{{- if hasKey $outside .peer -}}
{{- $p := get $outside .peer -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $p.namespace }}
  podSelector:
    matchLabels:
      {{- toYaml $p.podLabels | nindent 6 }}
{{- else if hasPrefix "external-" .peer -}}
{{- $ext := dict -}}
{{- if hasPrefix "external-database-" .peer }}{{ $ext = index $v.externalDatabase (trimPrefix "external-database-" .peer) }}{{ end -}}
{{- if eq .peer "external-redis" }}{{ $ext = $v.externalRedis }}{{ end -}}
{{- if eq .peer "external-rabbitmq" }}{{ $ext = $v.externalRabbitmq }}{{ end -}}
{{- range (default (list "0.0.0.0/0") $ext.cidrs) }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- else -}}
- podSelector:
    matchLabels:
      {{- include "ecommerce.selectorLabels" (dict "ctx" .ctx "component" .peer) | nindent 6 }}
{{- end -}}
{{- end -}}
