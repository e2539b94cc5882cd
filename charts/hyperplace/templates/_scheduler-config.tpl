{{/*
kube-scheduler's configuration file for hyperplace's scheduler, with its comments: the data of
the ConfigMap <fullname>-scheduler-config, and manifests/scheduler-config.yaml as it is
(scripts/manifests.sh). The e2e suite checks the scoring below against what the comment argues.
*/}}
{{- define "hyperplace.schedulerConfig" -}}
# kube-scheduler's configuration with hyperplace as its extender: the file
# scheduler-config.yaml of the ConfigMap {{ include "hyperplace.schedulerFullname" . }}-config that scheduler.yaml mounts
# (see README.md). The e2e suite (e2e/hyperplace_test.go) runs a real kube-scheduler from this
# file beside the cluster's default scheduler, as scheduler.yaml's service account, with only
# urlPrefix and the tlsConfig file paths changed, and fails if the extender entry drifts from
# names mode, filter + prioritize + bind, HTTPS with a client certificate, or
# percentageOfNodesToScore 100, or the scoring below from what its comment argues.
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: true
  # Its own lease, beside the cluster's default scheduler's (scheduler.yaml grants it).
  resourceNamespace: {{ .Release.Namespace }}
  resourceName: {{ include "hyperplace.schedulerFullname" . }}
# A second scheduler: it serves only pods with spec.schedulerName: {{ .Values.scheduler.name }} and leaves the
# rest to the cluster's default scheduler (DESIGN §4).
profiles:
- schedulerName: {{ .Values.scheduler.name }}
  # Scoring for accelerated nodes. kube-scheduler adds, per node, each score plugin's 0..100
  # times its weight, and the extender's 0..10 times its weight times 10. Listed here, a default
  # plugin keeps its place and takes this weight.
  #
  #   plugin                           default  here  why
  #   TaintToleration                  3        3     PreferNoSchedule taints: the operator's say
  #   NodeAffinity                     2        2     the user's preferred node affinity
  #   NodeResourcesFit                 1        1     MostAllocated (below): pack, not spread
  #   PodTopologySpread                2        1     spreads a Service's or ReplicaSet's pods
  #   InterPodAffinity                 2        1     preferred pod (anti-)affinity
  #   NodeResourcesBalancedAllocation  1        1     cpu/memory balance
  #   ImageLocality                    1        1     the image is already on the node
  #   sum                              12       10    at most 1000 between two nodes
  #
  # hyperplace's own score averages topology (weight 4), packing by the scarcest accelerator (2)
  # and health (1), stretched so that its best candidate gets 10 and its worst 0
  # (scoring/score.h). Where topology separates two nodes by its full range (one in the domain
  # the group is placed in, one outside), they differ by at least (4 - 2)/7 of the stretch when
  # equally healthy: 2 points after rounding. The extender's weight 60 makes 2 points worth 1200,
  # above all ten plugins' 1000, so topology is not outvoted; and 1 point (a finer topology step,
  # or packing) worth 600, above the 500 that the last five plugins give together. The plugins
  # still decide between nodes hyperplace scores the same.
  plugins:
    multiPoint:
      enabled:
      - {name: NodeResourcesFit, weight: 1}
      - {name: PodTopologySpread, weight: 1}
      - {name: InterPodAffinity, weight: 1}
  pluginConfig:
  - name: NodeResourcesFit
    args:
      # The default LeastAllocated prefers the emptiest node and so pulls a job's pods apart
      # and fragments whole GPU nodes. MostAllocated fills used nodes first. Accelerators are
      # not listed: hyperplace's own score packs by the scarcest accelerator a pod requests
      # (cluster.acceleratorResources), from its cache. kube-scheduler v1.36 checks, for every
      # node and every listed extended resource a pod does not request, that the name is an
      # extended resource with a regular expression: listing GPUs and the three Neuron names
      # cost 2.6 ms of scheduler CPU per pod at 1000 nodes (a third of its time; e2e
      # TestThroughput's profiles), 13 ms at 5000.
      scoringStrategy:
        type: MostAllocated
        resources:
        - {name: cpu, weight: 1}
        - {name: memory, weight: 1}
# Topology rules compare every feasible node; the adaptive default would show the extender only
# a sample (10% of 5000 nodes).
percentageOfNodesToScore: 100
extenders:
# /bind writes with hyperplace's rights, so the extender is HTTPS and requires this client
# certificate (DESIGN §2.1): a caller without one is refused during the TLS handshake. caFile
# verifies hyperplace's serving certificate, whose DNS names must include this host.
- urlPrefix: "https://{{ include "hyperplace.fullname" . }}.{{ .Release.Namespace }}.svc:{{ include "hyperplace.port" (list .Values.config.extender.listen "config.extender.listen") }}"
  enableHTTPS: true
  tlsConfig:
    certFile: /etc/hyperplace-scheduler/tls/tls.crt
    keyFile: /etc/hyperplace-scheduler/tls/tls.key
    caFile: /etc/hyperplace-scheduler/tls/ca.crt
  filterVerb: filter
  prioritizeVerb: prioritize
  bindVerb: bind
  # See the profile's scoring above: 1 point of hyperplace's 0..10 is worth 600.
  weight: 60
  nodeCacheCapable: true
  httpTimeout: {{ .Values.scheduler.httpTimeout }}
  ignorable: false
{{- end }}
