{{/*
What differs between the services: their environment. Everything else (Deployment, Service,
ServiceAccount, HPA, PDB, ServiceMonitor) comes from the library in _workload.tpl.
*/}}

{{/* The in-cluster URL of a service. Call with (dict "ctx" $ "service" "user"). */}}
{{- define "ecommerce.serviceUrl" -}}
{{- printf "http://%s:%s" (include "ecommerce.componentName" (dict "ctx" .ctx "component" .service)) (include "ecommerce.httpPort" .) -}}
{{- end -}}

{{/*
Variables that hold secrets. They are read from files (`NAME_FILE`) mounted from the Secret; the
chart refuses them in a service's `config`, which becomes a ConfigMap.
*/}}
{{- define "ecommerce.secretVariables" -}}
{{- list "DATABASE_URL" "REDIS_URL" "AMQP_URL" "CURSOR_SECRET" "IDEMPOTENCY_SECRET" "INTERNAL_TOKEN" "JWT_SIGNING_KEY" "JWT_SIGNING_KEY_ID" "ADMIN_PASSWORD" | toJson -}}
{{- end -}}

{{/*
A service's non-secret environment (JSON object of strings), which its ConfigMap holds: the
settings every service reads, the service's own, and its `config` values over them.
Call with (dict "ctx" $ "service" "gateway" "values" <merged service values>).
*/}}
{{- define "ecommerce.serviceEnv" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
{{- $env := dict
  "BIND_ADDR" (printf "0.0.0.0:%s" (include "ecommerce.httpPort" .))
  "LOG_FORMAT" "json"
  "RUST_LOG" .values.logLevel -}}
{{- with $v.telemetry.otlpEndpoint }}{{ $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" . }}{{ end -}}
{{- if eq .service "gateway" -}}
{{- $_ := set $env "OPS_BIND_ADDR" (printf "0.0.0.0:%s" (include "ecommerce.opsPort" .)) -}}
{{- $_ := set $env "USER_URL" (include "ecommerce.serviceUrl" (dict "ctx" $ctx "service" "user")) -}}
{{- $_ := set $env "PRODUCT_URL" (include "ecommerce.serviceUrl" (dict "ctx" $ctx "service" "product")) -}}
{{- $_ := set $env "ORDER_URL" (include "ecommerce.serviceUrl" (dict "ctx" $ctx "service" "order")) -}}
{{- $_ := set $env "WEB_URL" (include "ecommerce.serviceUrl" (dict "ctx" $ctx "service" "web")) -}}
{{- $_ := set $env "JWT_ISSUER" $v.auth.issuer -}}
{{- $_ := set $env "JWT_AUDIENCE" $v.auth.audience -}}
{{- $_ := set $env "TRUST_FORWARDED_FOR" (toString .values.trustForwardedFor) -}}
{{- with .values.corsAllowedOrigins }}{{ $_ := set $env "CORS_ALLOWED_ORIGINS" (join "," .) }}{{ end -}}
{{- else if eq .service "user" -}}
{{- $_ := set $env "JWT_ISSUER" $v.auth.issuer -}}
{{- $_ := set $env "JWT_AUDIENCE" $v.auth.audience -}}
{{- else if eq .service "order" -}}
{{- $_ := set $env "PRODUCT_URL" (include "ecommerce.serviceUrl" (dict "ctx" $ctx "service" "product")) -}}
{{- $_ := set $env "PAYMENT_PROVIDER" $v.payment.provider -}}
{{- if eq $v.payment.provider "test" -}}
{{- $_ := set $env "PAYMENT_TEST_LATENCY_MS" (toString $v.payment.test.latencyMs) -}}
{{- $_ := set $env "PAYMENT_TEST_FAILURE_RATE" (toString $v.payment.test.failureRate) -}}
{{- end -}}
{{- end -}}
{{- $secretVars := include "ecommerce.secretVariables" . | fromJsonArray -}}
{{- range $name, $value := .values.config -}}
{{- if or (has $name $secretVars) (has ($name | trimSuffix "_FILE") $secretVars) -}}
{{- fail (printf "%s.config.%s: %s is a secret; it is read from the Secret (see `secrets` in values.yaml), never from a ConfigMap" $.service $name $name) -}}
{{- end -}}
{{- $_ := set $env $name (toString $value) -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}
