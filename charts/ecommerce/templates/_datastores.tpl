{{/*
Shared parts of the data stores' StatefulSets (PostgreSQL, Redis, RabbitMQ). They run the
upstream images as those images' own non-root user (999), with the Pod Security Standards
`restricted` profile, outside the mesh; the NetworkPolicies admit only their clients.
*/}}

{{/* The pod security context of a data store. */}}
{{- define "ecommerce.datastore.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 999
runAsGroup: 999
fsGroup: 999
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The container security context of a data store. */}}
{{- define "ecommerce.datastore.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 999
runAsGroup: 999
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The checkov skips every data store shares, with their reasons. Call with (dict "image" <block>
"ctx" $).
*/}}
{{- define "ecommerce.datastore.checkovSkips" -}}
{{- $skips := list "CKV_K8S_40=the upstream image runs as its own user 999, which owns its data directory" -}}
{{- if not .image.digest }}{{ $skips = append $skips "CKV_K8S_43=upstream images by version tag unless <store>.image.digest is set" }}{{ end -}}
{{- $skips = append $skips "CKV_K8S_15=version tags of upstream images are not rewritten; IfNotPresent avoids a pull per restart" -}}
{{- include "ecommerce.checkovSkips" $skips -}}
{{- end -}}

{{/* The pod annotations of a data store: outside the mesh. */}}
{{- define "ecommerce.datastore.podAnnotations" -}}
checksum/secret: {{ include "ecommerce.secrets.checksum" .ctx }}
{{- if .ctx.Values.istio.enabled }}
# Outside the mesh: the NetworkPolicies admit only the store's clients.
sidecar.istio.io/inject: "false"
{{- end }}
{{- end -}}

{{/* A headless Service of a data store. Call with (dict "ctx" $ "component" <c> "port" <n> "portName" <s>). */}}
{{- define "ecommerce.datastore.service" -}}
{{- $comp := dict "ctx" .ctx "component" .component -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "ecommerce.metadata" (dict "ctx" .ctx "component" .component "name" (include "ecommerce.componentName" $comp)) | nindent 2 }}
spec:
  clusterIP: None
  selector:
    {{- include "ecommerce.selectorLabels" $comp | nindent 4 }}
  ports:
    - name: {{ .portName }}
      port: {{ .port }}
      targetPort: {{ .portName }}
      protocol: TCP
{{- end -}}

{{/* A data store's ServiceAccount: no token, no RBAC. */}}
{{- define "ecommerce.datastore.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "ecommerce.metadata" (dict "ctx" .ctx "component" .component "name" (include "ecommerce.componentName" (dict "ctx" .ctx "component" .component))) | nindent 2 }}
automountServiceAccountToken: false
{{- end -}}
