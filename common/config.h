// hyperplace's configuration: every listen address, label key, table, weight and server limit.
//
// The defaults of every field are the product's embedded defaults (DESIGN §1): running with no
// configuration file uses exactly `Config{}`. A YAML file overrides any subset; unknown keys and
// invalid values are errors reported with their field path ("extender.server.threads: must be
// between 1 and 256"), all of them at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace hyperplace {

// Limits of one HTTP listener. Everything a client controls is bounded here.
struct ServerLimits {
  // Largest request body accepted; a larger one is answered 413 without being read.
  std::size_t max_body_bytes = 64u << 20;
  // Largest request line plus headers.
  std::size_t max_header_bytes = 16u << 10;
  // Largest reply body a handler may produce; a larger one is replaced by a 500.
  std::size_t max_reply_bytes = 256u << 20;
  // Per-connection buffers larger than this are released once the connection has been idle for
  // a second, so one huge request does not pin its memory for the connection's lifetime.
  std::size_t keep_buffer_bytes = 1u << 20;
  // Deadline for a TLS handshake, from the connection's acceptance.
  std::chrono::milliseconds handshake_timeout{4000};
  // Deadline for receiving one whole request (headers and body) once its first byte arrived.
  // Below kube-scheduler's 5 s extender timeout, so a stalled client is cut off first.
  std::chrono::milliseconds read_timeout{4000};
  // Deadline for writing one whole response.
  std::chrono::milliseconds write_timeout{4000};
  // How long an idle keep-alive connection is kept. Longer than Go's 90 s idle-connection timeout
  // (kube-scheduler, kube-apiserver) so that the client, not the server, closes idle connections:
  // a server-side close can race with a POST the client is sending on that connection.
  std::chrono::milliseconds idle_timeout{120000};
  // Requests served on one connection before it is closed; 0 means no limit.
  std::uint32_t max_keepalive_requests = 0;
  // Handler threads. Connections cost no thread: the event loops own them all.
  std::uint32_t threads = 8;
  // Event loops, each a thread owning the connections dealt to it in turn: TLS, parsing, writing,
  // and the handlers that run on the loop (the webhook's admissions). One loop is one core's
  // worth of TLS and admissions.
  std::uint32_t event_loops = 2;
  // Open connections (idle ones included); beyond this a new connection is answered 503 (plain
  // HTTP) or closed (TLS) at once.
  std::uint32_t max_connections = 1024;
  // Requests read and waiting for or running in a handler; beyond this a request is answered
  // 503 with Retry-After instead of queueing without bound.
  std::uint32_t max_in_flight = 256;
};

enum class DensityStrategy { kPack, kSpread };

// Weights of the prioritize components (DESIGN §2.3). A weight of 0 turns a component off.
struct ScoreWeights {
  std::uint32_t topology = 4;
  std::uint32_t density = 2;
  std::uint32_t health = 1;
};

struct ExtenderConfig {
  std::string listen = "0.0.0.0:8888";
  // TLS for the extender listener (PEM files, e.g. a mounted Secret): both empty, plain HTTP
  // (for development on loopback). The --extender-tls-* flags override them.
  std::string tls_cert_file;
  std::string tls_private_key_file;
  // With TLS: the CA certificates (PEM) a caller's client certificate must chain to. A caller
  // without such a certificate fails the TLS handshake and never reaches /bind (DESIGN §2.1).
  // Empty: TLS without client authentication.
  std::string client_ca_file;
  // How often the certificate, key and client CA files are checked for a change.
  std::chrono::milliseconds cert_reload_interval{10000};
  // A plain-HTTP listener serving only GET /healthz, /readyz and /metrics, for callers that
  // present no client certificate (kubelet probes, Prometheus). Empty: off.
  std::string health_listen;
  ServerLimits server;
  // kube-scheduler binds in the background and starts the next pod's scheduling cycle at once,
  // so the next /filter can arrive before the previous pod's /bind. A /filter first waits up to
  // this long for binds of pods that were filtered but not yet bound, so density and group
  // placement see them. Only once hyperplace has received a bind (it is the binder).
  std::chrono::milliseconds bind_wait{200};
  DensityStrategy strategy = DensityStrategy::kPack;
  ScoreWeights weights;
  // Schedulers (spec.schedulerName, i.e. kube-scheduler profiles) whose extender hyperplace is:
  // /bind refuses a pod of any other scheduler. Defaults: hyperplace's own scheduler profile
  // (DESIGN §4) and kube-scheduler's default profile, which manifests/scheduler-config.yaml
  // configures (the extender in the cluster's own scheduler). Narrow it to the profiles that
  // really carry the extender.
  std::vector<std::string> scheduler_names = {"hyperplace", "default-scheduler"};
  // GET /debug/topology and /debug/jobs on the extender listener: the network tree and where
  // every job sits, as `hyperplace topology --output json` prints them (each request lists the
  // cluster's nodes and pods from the API server). They name every node and pod, so they need
  // client certificates (clientCAFile) or a loopback listen. Off: 404.
  bool debug_endpoints = false;
};

// Node and pod vocabulary of the cluster (DESIGN §1). Every key is a label or annotation key.
struct ClusterConfig {
  std::string instance_type_label = "node.kubernetes.io/instance-type";
  std::string instance_type_prefix = "ml.";
  // The node-name label: a pod whose nodeSelector names it (as Kueue TAS pins pods) has its node,
  // and so its topology domain, chosen already.
  std::string hostname_label = "kubernetes.io/hostname";
  // Network topology levels, from the top of the hierarchy (least selective) to the level closest
  // to the instance. A node may carry only a prefix of them (layer 4 exists on some types only).
  std::vector<std::string> topology_levels = {
      "topology.k8s.aws/network-node-layer-1",
      "topology.k8s.aws/network-node-layer-2",
      "topology.k8s.aws/network-node-layer-3",
      "topology.k8s.aws/network-node-layer-4",
  };
  std::string health_label = "sagemaker.amazonaws.com/node-health-status";
  // Values of health_label under which a node may take pods. Any other value is unhealthy; a node
  // without the label is treated as healthy (not every node runs the health agent).
  std::vector<std::string> schedulable_health_values = {"Schedulable"};
  std::string deep_health_label = "sagemaker.amazonaws.com/deep-health-check-status";
  std::string deep_health_passed = "Passed";
  std::string deep_health_in_progress = "InProgress";
  std::string deep_health_failed = "Failed";
  // Taint key the health agent applies (effects NoSchedule and NoExecute count).
  std::string health_taint_key = "sagemaker.amazonaws.com/node-health-status";

  std::string queue_name_label = "kueue.x-k8s.io/queue-name";
  std::string priority_class_label = "kueue.x-k8s.io/priority-class";
  std::string required_topology_annotation = "kueue.x-k8s.io/podset-required-topology";
  std::string preferred_topology_annotation = "kueue.x-k8s.io/podset-preferred-topology";
  std::string pod_group_label = "kueue.x-k8s.io/pod-group-name";
  std::string pod_group_total_count_annotation = "kueue.x-k8s.io/pod-group-total-count";
  // Labels that name a pod's job when it has no pod-group label, tried in order; after them the
  // controller owner reference's uid.
  std::vector<std::string> group_fallback_labels = {
      "batch.kubernetes.io/job-name",
      "training.kubeflow.org/job-name",
      "jobset.sigs.k8s.io/jobset-name",
      "leaderworkerset.sigs.k8s.io/name",
  };

  // Namespaces of teams: "<prefix><team>" (HyperPod task governance: "hyperpod-ns-").
  std::string team_namespace_prefix = "hyperpod-ns-";

  // Maximum pods per instance type. A type not listed falls back to the node's
  // status.allocatable.pods.
  std::map<std::string, std::uint32_t> max_pods_per_instance_type = DefaultMaxPods();

  // Extended resources that are accelerators: a pod requesting one is packed by the scarcest of
  // them it requests (DESIGN §2.3), so whole nodes stay whole for whole-node jobs. Empty: every
  // pod is packed by pod slots.
  std::vector<std::string> accelerator_resources = {
      "nvidia.com/gpu",
      "aws.amazon.com/neuron",
      "aws.amazon.com/neuroncore",
      "aws.amazon.com/neurondevice",
  };

  static std::map<std::string, std::uint32_t> DefaultMaxPods();
};

// A Kueue WorkloadPriorityClass the webhook may write (DESIGN §1, §3).
struct PriorityClassConfig {
  std::string name;
  std::int32_t value = 0;
};

// The mutating admission webhook (DESIGN §3).
struct WebhookConfig {
  std::string listen = "0.0.0.0:8443";
  // Serving certificate and key (PEM files, e.g. a mounted Secret); both empty: the webhook
  // listener stays off. The --tls-cert-file / --tls-private-key-file flags override them.
  std::string tls_cert_file;
  std::string tls_private_key_file;
  // How often the certificate files are checked for a change (a rotated Secret).
  std::chrono::milliseconds cert_reload_interval{10000};
  ServerLimits server = [] {
    ServerLimits s;
    s.max_body_bytes = 8u << 20;  // AdmissionReviews carry one object; etcd caps objects at 1.5 MB
    s.max_reply_bytes = 16u << 20;  // an AdmissionReview reply is a verdict and a short patch
    return s;
  }();
  // Names derived from a team T, whose namespace is "<cluster.teamNamespacePrefix>T".
  std::string local_queue_template = "hyperpod-ns-{team}-localqueue";
  std::string team_group_template = "hyperpod-ns-{team}-namespace-level-group";
  // Users in these groups may create anything anywhere.
  std::vector<std::string> admin_groups = {"system:masters"};
  // Controllers that create objects on users' behalf: every service account of these namespaces,
  // and these user names.
  // Defaults: the controllers HyperPod clusters run (Job, Kubeflow training, Kueue, JobSet,
  // LeaderWorkerSet, KubeRay, and HyperPod's own operators in aws-hyperpod).
  std::vector<std::string> trusted_service_account_namespaces = {
      "kube-system", "kubeflow",   "kueue-system", "jobset-system",
      "lws-system",  "ray-system", "aws-hyperpod"};
  std::vector<std::string> trusted_users = {"system:kube-controller-manager"};
  // The classes the webhook may write when the cluster's are unknown (no API server, or Kueue's
  // API absent). With an API server and Kueue, the cluster's WorkloadPriorityClasses win.
  std::vector<PriorityClassConfig> priority_classes = {
      {"inference-priority", 15}, {"training-priority", 10}, {"fine-tuning-priority", 5}};
  // Class added to objects without one; empty: the lowest-valued class.
  std::string default_priority_class;
  // team -> the highest class its members may request (by value). Teams not listed: any class.
  std::map<std::string, std::string> team_max_priority_class;
  // spec.schedulerName given to pods created in team namespaces (DESIGN §3 rule 5): hyperplace's
  // own scheduler, the profile of manifests/scheduler-config.yaml. A pod naming another scheduler
  // keeps it; "default-scheduler" counts as naming none, since the API server writes it into
  // every pod that names none before the webhook sees it. Must be one of extender.schedulerNames.
  // Empty: off, for clusters whose default scheduler has hyperplace as its extender.
  std::string scheduler_name = "hyperplace";
};

// The API-server client and watch cache (DESIGN §2.4).
struct KubeConfig {
  // A pod bound through /bind counts as placed at once ("assumed"); if the watch has not shown
  // it bound after this long, the assumption is dropped.
  std::chrono::milliseconds assume_timeout{30000};
  // Deadline of one list page or other API-server request.
  std::chrono::milliseconds request_timeout{10000};
  // Deadline of a whole /bind, every API-server request it makes included (the Binding, and the
  // reads that check the pod or an uncertain outcome). Below kube-scheduler's 5 s extender
  // timeout, so the scheduler always gets hyperplace's answer rather than its own timeout.
  std::chrono::milliseconds bind_timeout{4000};
  // timeoutSeconds asked of each watch; the API server ends the watch then and it is resumed.
  std::chrono::milliseconds watch_timeout{300000};
  // Backoff between failed list/watch attempts: doubles from initial up to max, with jitter.
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  // Items per list page (limit=), bounding memory while listing 150,000 pods.
  std::uint32_t list_page_size = 500;
  // Watch Kueue's LocalQueues and WorkloadPriorityClasses for the webhook.
  bool watch_kueue = true;
};

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
};

struct Config {
  ExtenderConfig extender;
  WebhookConfig webhook;
  ClusterConfig cluster;
  KubeConfig kube;
  LogConfig log;
};

// Parses a YAML document over the defaults. On failure the status message lists every error, one
// per line, each starting with its field path.
StatusOr<Config> ParseConfig(const std::string& yaml_text);
StatusOr<Config> LoadConfigFile(const std::string& path);

// Checks cross-field rules of a complete configuration (also run by ParseConfig). Returns every
// error found, each as "field.path: message".
std::vector<std::string> ValidateConfig(const Config& config);

// The effective configuration as YAML that ParseConfig accepts and that round-trips.
std::string ConfigToYaml(const Config& config);

// "HOST:PORT" split; the port is 0..65535. "[::1]:80" is accepted for IPv6.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
StatusOr<HostPort> ParseHostPort(const std::string& text);

// Durations in Go's notation as Kubernetes uses it: "250ms", "4s", "2m", "1m30s".
StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text);
std::string FormatDuration(std::chrono::milliseconds d);

const char* LogLevelName(LogLevel level);
const char* DensityStrategyName(DensityStrategy strategy);

}  // namespace hyperplace
