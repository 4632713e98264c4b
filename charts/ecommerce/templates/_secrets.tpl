{{/*
Secrets: which Secret the release reads, which keys it needs, the values the chart generates,
and the files each pod mounts. The services read every secret from a file (`NAME_FILE`, see
kit::config), never from a ConfigMap or a plain environment value.
*/}}

{{/* Where the secrets come from: "existing", "sealed" or "generated". */}}
{{- define "ecommerce.secrets.mode" -}}
{{- if .Values.secrets.existingSecret -}}existing
{{- else if .Values.sealedSecrets.enabled -}}sealed
{{- else -}}generated
{{- end -}}
{{- end -}}

{{/* The name of the Secret the release reads. */}}
{{- define "ecommerce.secrets.name" -}}
{{- default (include "ecommerce.componentName" (dict "ctx" . "component" "secrets")) .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
The keys the release needs in its Secret, for what is enabled (JSON list). The README lists them;
a test checks that the pods mount exactly these.
*/}}
{{- define "ecommerce.secrets.keys" -}}
{{- $keys := list "jwt-signing-key" "jwt-signing-key-id" "cursor-secret" "idempotency-secret" "internal-token" -}}
{{- if .Values.admin.create }}{{ $keys = append $keys "admin-password" }}{{ end -}}
{{- range $svc := include "ecommerce.databaseServices" . | fromJsonArray -}}
{{- if not (include "ecommerce.database.external" (dict "ctx" $ "service" $svc)) -}}
{{- $keys = concat $keys (list (printf "%s-database-url" $svc) (printf "%s-database-password" $svc)) -}}
{{- end -}}
{{- end -}}
{{- if .Values.redis.enabled }}{{ $keys = concat $keys (list "redis-url" "redis-auth.conf") }}{{ end -}}
{{- if .Values.rabbitmq.enabled }}{{ $keys = concat $keys (list "amqp-url" "rabbitmq-auth.conf") }}{{ end -}}
{{- toJson $keys -}}
{{- end -}}

{{/*
The values the chart generates (mode "generated"), as a JSON object of plain strings.

Each value is looked up first in the Secret of an earlier release, so `helm upgrade` keeps them;
only a missing one is generated. Passwords are kept and the URLs are rebuilt from them, so a
renamed host follows. The result is cached in .Values for the rest of the render: every
template that asks (the Secret and the checksum annotations) sees the same random values.

`lookup` is empty under `helm template`, which is how Argo CD renders: the values would then be
new on every sync. `gitOps.enabled` makes the chart refuse this mode (see validate.yaml).
*/}}
{{- define "ecommerce.secrets.generated" -}}
{{- if not (hasKey .Values "__generatedSecrets") -}}
{{- $name := include "ecommerce.secrets.name" . -}}
{{- $old := dict -}}
{{- with (lookup "v1" "Secret" .Release.Namespace $name) -}}
{{- range $k, $v := (default dict .data) }}{{ $_ := set $old $k (b64dec $v) }}{{ end -}}
{{- end -}}
{{- $keep := dict -}}
{{- $gen := dict
  "jwt-signing-key" (genPrivateKey "ed25519")
  "jwt-signing-key-id" (printf "k-%s" (randAlphaNum 8 | lower))
  "cursor-secret" (randAlphaNum 48)
  "idempotency-secret" (randAlphaNum 48)
  "internal-token" (randAlphaNum 48)
  "admin-password" (randAlphaNum 24)
  "redis-password" (randAlphaNum 32)
  "rabbitmq-password" (randAlphaNum 32) -}}
{{- range $svc := include "ecommerce.databaseServices" . | fromJsonArray }}
{{- $_ := set $gen (printf "%s-database-password" $svc) (randAlphaNum 32) -}}
{{- end -}}
{{- range $k, $v := $gen }}{{ $_ := set $keep $k (get $old $k | default $v) }}{{ end -}}
{{- $data := dict -}}
{{- range $k := include "ecommerce.secrets.keys" . | fromJsonArray }}
{{- if hasKey $keep $k }}{{ $_ := set $data $k (get $keep $k) }}{{ end -}}
{{- end -}}
{{- range $svc := include "ecommerce.databaseServices" . | fromJsonArray -}}
{{- if not (include "ecommerce.database.external" (dict "ctx" $ "service" $svc)) -}}
{{- $pw := get $keep (printf "%s-database-password" $svc) -}}
{{- $_ := set $data (printf "%s-database-password" $svc) $pw -}}
{{- $_ := set $data (printf "%s-database-url" $svc) (printf "postgres://ecommerce:%s@%s:5432/ecommerce" $pw (include "ecommerce.postgresql.name" (dict "ctx" $ "service" $svc))) -}}
{{- end -}}
{{- end -}}
{{- if .Values.redis.enabled -}}
{{- $pw := get $keep "redis-password" -}}
{{- $_ := set $data "redis-url" (printf "redis://:%s@%s:6379" $pw (include "ecommerce.componentName" (dict "ctx" . "component" "redis"))) -}}
{{- $_ := set $data "redis-auth.conf" (printf "requirepass %s\n" $pw) -}}
{{- $_ := set $data "redis-password" $pw -}}
{{- end -}}
{{- if .Values.rabbitmq.enabled -}}
{{- $pw := get $keep "rabbitmq-password" -}}
{{- $user := .Values.rabbitmq.username -}}
{{- $_ := set $data "amqp-url" (printf "amqp://%s:%s@%s:5672/%%2f" $user $pw (include "ecommerce.componentName" (dict "ctx" . "component" "rabbitmq"))) -}}
{{- $_ := set $data "rabbitmq-auth.conf" (printf "default_user = %s\ndefault_pass = %s\n" $user $pw) -}}
{{- $_ := set $data "rabbitmq-password" $pw -}}
{{- end -}}
{{- $_ := set .Values "__generatedSecrets" $data -}}
{{- end -}}
{{- toJson (get .Values "__generatedSecrets") -}}
{{- end -}}

{{/*
A fingerprint of the secret material, for the `checksum/secret` annotation: a change rolls the
pods. With an existing Secret the chart cannot see its content, only its name; roll the pods
yourself after changing it (`kubectl rollout restart`).
*/}}
{{- define "ecommerce.secrets.checksum" -}}
{{- $mode := include "ecommerce.secrets.mode" . -}}
{{- if eq $mode "generated" -}}
{{- include "ecommerce.secrets.generated" . | sha256sum -}}
{{- else if eq $mode "sealed" -}}
{{- toJson .Values.sealedSecrets.encryptedData | sha256sum -}}
{{- else -}}
{{- .Values.secrets.existingSecret | sha256sum -}}
{{- end -}}
{{- end -}}

{{/*
The secret files a component mounts (JSON list of {env, secret, key, file}): `env` is the
`NAME_FILE` variable naming the file. Call with (dict "ctx" $ "component" "<service or job>").
*/}}
{{- define "ecommerce.secrets.files" -}}
{{- $ctx := .ctx -}}
{{- $app := include "ecommerce.secrets.name" $ctx -}}
{{- $files := list -}}
{{- $db := "" -}}
{{- $c := .component -}}
{{- $svc := $c | trimPrefix "migrate-" -}}
{{- if eq $c "seed" }}{{ $svc = "product" }}{{ end -}}
{{- if eq $c "create-admin" }}{{ $svc = "user" }}{{ end -}}
{{- if has $svc (include "ecommerce.databaseServices" $ctx | fromJsonArray) -}}
{{- $ext := index $ctx.Values.externalDatabase $svc -}}
{{- if $ext.existingSecret -}}
{{- $files = append $files (dict "env" "DATABASE_URL_FILE" "secret" $ext.existingSecret "key" $ext.key "file" "database-url") -}}
{{- else -}}
{{- $files = append $files (dict "env" "DATABASE_URL_FILE" "secret" $app "key" (printf "%s-database-url" $svc) "file" "database-url") -}}
{{- end -}}
{{- end -}}
{{- if or (eq $c "product") (eq $c "seed") -}}
{{- if $ctx.Values.redis.enabled -}}
{{- $files = append $files (dict "env" "REDIS_URL_FILE" "secret" $app "key" "redis-url" "file" "redis-url") -}}
{{- else -}}
{{- $files = append $files (dict "env" "REDIS_URL_FILE" "secret" $ctx.Values.externalRedis.existingSecret "key" $ctx.Values.externalRedis.key "file" "redis-url") -}}
{{- end -}}
{{- end -}}
{{- if or (eq $c "product") (eq $c "order") -}}
{{- if $ctx.Values.rabbitmq.enabled -}}
{{- $files = append $files (dict "env" "AMQP_URL_FILE" "secret" $app "key" "amqp-url" "file" "amqp-url") -}}
{{- else -}}
{{- $files = append $files (dict "env" "AMQP_URL_FILE" "secret" $ctx.Values.externalRabbitmq.existingSecret "key" $ctx.Values.externalRabbitmq.key "file" "amqp-url") -}}
{{- end -}}
{{- end -}}
{{- /* Every service with /internal/* routes (user, product) checks the token; order sends it. */ -}}
{{- if has $c (list "user" "product" "order") -}}
{{- $files = append $files (dict "env" "INTERNAL_TOKEN_FILE" "secret" $app "key" "internal-token" "file" "internal-token") -}}
{{- end -}}
{{- if eq $c "product" -}}
{{- $files = append $files (dict "env" "CURSOR_SECRET_FILE" "secret" $app "key" "cursor-secret" "file" "cursor-secret") -}}
{{- end -}}
{{- if eq $c "order" -}}
{{- $files = append $files (dict "env" "IDEMPOTENCY_SECRET_FILE" "secret" $app "key" "idempotency-secret" "file" "idempotency-secret") -}}
{{- end -}}
{{- if eq $c "create-admin" -}}
{{- $files = append $files (dict "env" "ADMIN_PASSWORD_FILE" "secret" $app "key" "admin-password" "file" "admin-password") -}}
{{- end -}}
{{- if eq $c "user" -}}
{{- $files = append $files (dict "env" "JWT_SIGNING_KEY_FILE" "secret" $app "key" "jwt-signing-key" "file" "jwt-signing-key") -}}
{{- $files = append $files (dict "env" "JWT_SIGNING_KEY_ID_FILE" "secret" $app "key" "jwt-signing-key-id" "file" "jwt-signing-key-id") -}}
{{- end -}}
{{- toJson $files -}}
{{- end -}}

{{/* Where secret files are mounted. */}}
{{- define "ecommerce.secrets.dir" -}}/var/run/secrets/ecommerce{{- end -}}

{{/* The `NAME_FILE` environment variables of a component. Call like ecommerce.secrets.files. */}}
{{- define "ecommerce.secrets.env" -}}
{{- range include "ecommerce.secrets.files" . | fromJsonArray }}
- name: {{ .env }}
  value: {{ printf "%s/%s" (include "ecommerce.secrets.dir" nil) .file | quote }}
{{- end }}
{{- end -}}

{{/*
The projected volume of a component's secret files: only the keys it needs, read-only, readable
by the pod's group only. Empty when the component needs none. Call like ecommerce.secrets.files.
*/}}
{{- define "ecommerce.secrets.volume" -}}
{{- $files := include "ecommerce.secrets.files" . | fromJsonArray -}}
{{- if $files }}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      {{- $bySecret := dict }}
      {{- range $files }}{{ $_ := set $bySecret .secret (append (get $bySecret .secret | default list) .) }}{{ end }}
      {{- range $secret, $items := $bySecret }}
      - secret:
          name: {{ $secret }}
          items:
            {{- range $items }}
            - key: {{ .key }}
              path: {{ .file }}
            {{- end }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* The mount of that volume. */}}
{{- define "ecommerce.secrets.volumeMount" -}}
{{- if include "ecommerce.secrets.files" . | fromJsonArray }}
- name: secrets
  mountPath: {{ include "ecommerce.secrets.dir" nil }}
  readOnly: true
{{- end }}
{{- end -}}
