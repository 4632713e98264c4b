{{/*
The library every service is rendered by: ConfigMap, Deployment, Service, ServiceAccount,
HorizontalPodAutoscaler and PodDisruptionBudget. Each template takes
(dict "ctx" $ "service" "<name>" "values" <the service's merged values>), and the Deployment also
"track" ("stable" or "canary").
*/}}

{{/* The name of a service's metrics/ops port on its Service and container. */}}
{{- define "ecommerce.opsPortName" -}}
{{- if eq .service "gateway" }}http-ops{{ else }}http{{ end -}}
{{- end -}}

{{/* The scheduling block of a pod: spread over zones and nodes, anti-affinity, placement. */}}
{{- define "ecommerce.podScheduling" -}}
{{- $sel := include "ecommerce.selectorLabels" (dict "ctx" .ctx "component" .component) | fromYaml -}}
{{- if .values.affinity }}
affinity:
  {{- toYaml .values.affinity | nindent 2 }}
{{- else if eq .values.podAntiAffinityPreset "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- toYaml $sel | nindent 14 }}
{{- else if eq .values.podAntiAffinityPreset "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- toYaml $sel | nindent 12 }}
{{- end }}
{{- if .values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - topologyKey: {{ . }}
    maxSkew: {{ $.values.topologySpread.maxSkew }}
    whenUnsatisfiable: {{ $.values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- toYaml $sel | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
  {{- end }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* A service's ConfigMap: its non-secret environment. */}}
{{- define "ecommerce.workload.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  {{- include "ecommerce.metadata" (dict "ctx" .ctx "component" .service "name" (include "ecommerce.componentName" (dict "ctx" .ctx "component" .service))) | nindent 2 }}
data:
  {{- toYaml (include "ecommerce.serviceEnv" . | fromJson) | nindent 2 }}
{{- end -}}

{{/* A service's Deployment (the stable one, or its canary). */}}
{{- define "ecommerce.workload.deployment" -}}
{{- $ctx := .ctx -}}
{{- $v := .values -}}
{{- $name := include "ecommerce.componentName" (dict "ctx" $ctx "component" .service) -}}
{{- $canary := eq .track "canary" -}}
{{- $image := $v.image -}}
{{- if $canary }}{{ $image = mustMergeOverwrite (deepCopy $v.image) (pick $v.canary.image "tag" "digest") }}{{ end -}}
{{- $comp := dict "ctx" $ctx "component" .service -}}
{{- $opsPort := include "ecommerce.opsPortName" . -}}
{{- $skips := list -}}
{{- if not $image.digest }}{{ $skips = append $skips "CKV_K8S_43=images are referenced by tag unless <service>.image.digest is set, which pins them" }}{{ end -}}
{{- if ne $ctx.Values.image.pullPolicy "Always" }}{{ $skips = append $skips "CKV_K8S_15=release tags are immutable, so IfNotPresent is safe and lets nodes run preloaded images" }}{{ end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "ecommerce.metadata" (dict "ctx" $ctx "component" .service "name" (ternary (printf "%s-canary" $name) $name $canary) "annotations" (include "ecommerce.checkovSkips" $skips | fromYaml) "extraLabels" (dict "track" .track)) | nindent 2 }}
spec:
  {{- if $canary }}
  replicas: {{ $v.canary.replicaCount }}
  {{- else if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: {{ $v.revisionHistoryLimit }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # Never below the wanted number of ready pods during a rollout.
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "ecommerce.selectorLabels" $comp | nindent 6 }}
      track: {{ .track }}
  template:
    metadata:
      labels:
        {{- include "ecommerce.labels" $comp | nindent 8 }}
        track: {{ .track }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # A change of the service's configuration or of the secrets rolls its pods.
        checksum/config: {{ include "ecommerce.workload.configmap" . | sha256sum }}
        checksum/secret: {{ include "ecommerce.secrets.checksum" $ctx }}
        {{- if $ctx.Values.istio.enabled }}
        sidecar.istio.io/inject: "true"
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $name }}
      # The services never call the Kubernetes API.
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      {{- with include "ecommerce.imagePullSecrets" $ctx }}
      {{- . | trim | nindent 6 }}
      {{- end }}
      {{- with include "ecommerce.podScheduling" (dict "ctx" $ctx "component" .service "values" $v) }}
      {{- . | trim | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .service }}
          image: {{ include "ecommerce.serviceImage" (dict "ctx" $ctx "image" $image) | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ include "ecommerce.httpPort" . }}
              protocol: TCP
            {{- if eq .service "gateway" }}
            - name: http-ops
              containerPort: {{ include "ecommerce.opsPort" . }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ $name }}
          {{- with include "ecommerce.secrets.env" $comp }}
          env:
            {{- . | nindent 12 }}
          {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: {{ $opsPort }}
            periodSeconds: {{ $v.startupProbe.periodSeconds }}
            failureThreshold: {{ $v.startupProbe.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ $opsPort }}
            periodSeconds: {{ $v.readinessProbe.periodSeconds }}
            failureThreshold: {{ $v.readinessProbe.failureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ $opsPort }}
            periodSeconds: {{ $v.livenessProbe.periodSeconds }}
            failureThreshold: {{ $v.livenessProbe.failureThreshold }}
          {{- /* The sleep action needs Kubernetes 1.30; the images have no shell for `exec sleep`. */}}
          {{- if and (gt (int $v.preStopSleepSeconds) 0) (semverCompare ">=1.30.0-0" (include "ecommerce.kubeVersion" $ctx)) }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ $v.preStopSleepSeconds }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with include "ecommerce.secrets.volumeMount" $comp }}
            {{- . | trim | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with include "ecommerce.secrets.volume" $comp }}
        {{- . | trim | nindent 8 }}
        {{- end }}
{{- end -}}

{{/* A service's Service: its HTTP port, and the gateway's ops port. */}}
{{- define "ecommerce.workload.service" -}}
{{- $comp := dict "ctx" .ctx "component" .service -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "ecommerce.metadata" (dict "ctx" .ctx "component" .service "name" (include "ecommerce.componentName" $comp)) | nindent 2 }}
spec:
  type: ClusterIP
  selector:
    {{- include "ecommerce.selectorLabels" $comp | nindent 4 }}
  ports:
    - name: http
      port: {{ include "ecommerce.httpPort" . }}
      targetPort: http
      protocol: TCP
      appProtocol: http
    {{- if eq .service "gateway" }}
    - name: http-ops
      port: {{ include "ecommerce.opsPort" . }}
      targetPort: http-ops
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- end -}}

{{/* A service's ServiceAccount: an identity for the mesh, with no token and no RBAC. */}}
{{- define "ecommerce.workload.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "ecommerce.metadata" (dict "ctx" .ctx "component" .service "name" (include "ecommerce.componentName" (dict "ctx" .ctx "component" .service))) | nindent 2 }}
automountServiceAccountToken: false
{{- end -}}

{{/* A service's HorizontalPodAutoscaler: CPU, memory and optionally requests per second. */}}
{{- define "ecommerce.workload.hpa" -}}
{{- $a := .values.autoscaling -}}
{{- $name := include "ecommerce.componentName" (dict "ctx" .ctx "component" .service) -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  {{- include "ecommerce.metadata" (dict "ctx" .ctx "component" .service "name" $name) | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $a.targetMemoryUtilizationPercentage }}
    {{- if gt (int $a.requestsPerSecond) 0 }}
    - type: Pods
      pods:
        metric:
          name: http_requests_per_second
        target:
          type: AverageValue
          averageValue: {{ $a.requestsPerSecond | quote }}
    {{- end }}
  behavior:
    scaleDown:
      # Wait five minutes of lower load before removing pods, so a dip does not flap.
      stabilizationWindowSeconds: 300
{{- end -}}

{{/* A service's PodDisruptionBudget. */}}
{{- define "ecommerce.workload.pdb" -}}
{{- $comp := dict "ctx" .ctx "component" .service -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "ecommerce.metadata" (dict "ctx" .ctx "component" .service "name" (include "ecommerce.componentName" $comp)) | nindent 2 }}
spec:
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "ecommerce.selectorLabels" $comp | nindent 6 }}
{{- end -}}
