{{/* Names and labels shared by every template. */}}

{{- define "dask-kubernetes-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, prefixed by the chart name unless it already
contains it (so `--generate-name` gives "dask-kubernetes-operator-1666875935").
*/}}
{{- define "dask-kubernetes-operator.fullname" -}}
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

{{- define "dask-kubernetes-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dask-kubernetes-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dask-kubernetes-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dask-kubernetes-operator.labels" -}}
helm.sh/chart: {{ include "dask-kubernetes-operator.chart" . }}
{{ include "dask-kubernetes-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ include "dask-kubernetes-operator.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dask-kubernetes-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dask-kubernetes-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* True when kopf serves every namespace (and so never lists namespaces). */}}
{{- define "dask-kubernetes-operator.allNamespaces" -}}
{{- if or (has "--all-namespaces" .Values.kopfArgs) (has "-A" .Values.kopfArgs) }}true{{ end }}
{{- end }}

{{/*
True when kopfArgs asks for kopf peering (or says --standalone itself); otherwise the chart adds
--standalone: it runs exactly one operator pod, and kopf would otherwise use peering objects
whenever another kopf operator has installed their CRDs, which this operator may not touch.
*/}}
{{- define "dask-kubernetes-operator.peering" -}}
{{- range .Values.kopfArgs }}
{{- if or (hasPrefix "--peering" .) (hasPrefix "-P" .) (eq . "--standalone") }}true{{ end }}
{{- end }}
{{- end }}

{{/* Workers are scraped when metrics.worker.enabled and the PodMonitor is asked for (either spelling). */}}
{{- define "dask-kubernetes-operator.workerPodMonitor" -}}
{{- $w := .Values.metrics.worker }}
{{- if and $w.enabled (or $w.podMonitor.enabled $w.serviceMonitor.enabled) }}true{{ end }}
{{- end }}

{{/*
The operator's rules, namespaced part: exactly the calls the controller makes, as recorded from
the apiserver audit log by tests/e2e/test_chart.py (which fails on a missing or unused rule).
Children (Deployments, Services, worker groups) are created by server-side apply and deleted by
the garbage collector through owner references, so the operator never deletes them itself.
Kept in one place so the Role and the ClusterRole cannot drift apart.
*/}}
{{- define "dask-kubernetes-operator.namespacedRules" -}}
# The operator reads these kinds from watch-fed caches (list + watch); get only checks that a
# cluster which just lost children still exists before they are re-created.
- apiGroups: [kubernetes.dask.org]
  resources: [daskclusters]
  verbs: [get, list, watch, create, delete]
# delete: never called, but the operator adopts user-made worker groups (sets their owner
# reference), which OwnerReferencesPermissionEnforcement allows only to who may delete them.
- apiGroups: [kubernetes.dask.org]
  resources: [daskworkergroups]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [kubernetes.dask.org]
  resources: [daskjobs]
  verbs: [list, watch, delete]
- apiGroups: [kubernetes.dask.org]
  resources: [daskautoscalers]
  verbs: [list, watch]
- apiGroups: [kubernetes.dask.org]
  resources: [daskclusters/status, daskworkergroups/status, daskjobs/status, daskautoscalers/status]
  verbs: [patch]
# Children carry owner references with blockOwnerDeletion: clusters with the
# OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened clusters) require this.
- apiGroups: [kubernetes.dask.org]
  resources: [daskclusters/finalizers, daskworkergroups/finalizers, daskjobs/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [list, watch, create, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
# the scheduler PodDisruptionBudget of every DaskCluster (deleted when a cluster opts out)
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch, delete]
# the dashboard Ingress of DaskClusters that expose their dashboard (dashboardIngress)
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [list, watch, create, patch, delete]
# the NetworkPolicy of DaskClusters that ask for one (networkPolicy)
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch, create, patch, delete]
# leader election: read and watch the Lease, create it once, renew and release it
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, watch, create, update]
{{- end }}

{{/* Cluster-scoped rules, only with rbac.cluster=true. */}}
{{- define "dask-kubernetes-operator.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if not (include "dask-kubernetes-operator.allNamespaces" .) }}
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- end }}

{{- /* The operator image's tag. chartpress writes the published tag into values.yaml; in a
checkout it holds chartpress' placeholder, which no registry has: then the chart's appVersion
(the version ci/build-images.sh builds the image as). */}}
{{- define "dask-kubernetes-operator.imageTag" -}}
{{- if eq .Values.image.tag "set-by-chartpress" }}{{ .Chart.AppVersion }}{{ else }}{{ .Values.image.tag }}{{ end }}
{{- end }}
