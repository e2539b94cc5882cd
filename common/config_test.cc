#include "common/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace hyperplace {
namespace {

using std::chrono::milliseconds;

// The error lines of a configuration that must fail to parse (empty if it parsed).
std::vector<std::string> ErrorLines(const std::string& yaml) {
  StatusOr<Config> config = ParseConfig(yaml);
  if (config.ok()) return {};
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  std::vector<std::string> lines;
  std::istringstream in(config.status().message());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void ExpectSameConfig(const Config& a, const Config& b) {
  const ExtenderConfig& ea = a.extender;
  const ExtenderConfig& eb = b.extender;
  EXPECT_EQ(ea.listen, eb.listen);
  EXPECT_EQ(ea.tls_cert_file, eb.tls_cert_file);
  EXPECT_EQ(ea.tls_private_key_file, eb.tls_private_key_file);
  EXPECT_EQ(ea.client_ca_file, eb.client_ca_file);
  EXPECT_EQ(ea.cert_reload_interval, eb.cert_reload_interval);
  EXPECT_EQ(ea.health_listen, eb.health_listen);
  EXPECT_EQ(ea.server.max_body_bytes, eb.server.max_body_bytes);
  EXPECT_EQ(ea.server.max_header_bytes, eb.server.max_header_bytes);
  EXPECT_EQ(ea.server.read_timeout, eb.server.read_timeout);
  EXPECT_EQ(ea.server.write_timeout, eb.server.write_timeout);
  EXPECT_EQ(ea.server.idle_timeout, eb.server.idle_timeout);
  EXPECT_EQ(ea.server.max_keepalive_requests, eb.server.max_keepalive_requests);
  EXPECT_EQ(ea.server.threads, eb.server.threads);
  EXPECT_EQ(ea.server.event_loops, eb.server.event_loops);
  EXPECT_EQ(ea.server.max_connections, eb.server.max_connections);
  EXPECT_EQ(ea.server.max_in_flight, eb.server.max_in_flight);
  EXPECT_EQ(ea.server.max_reply_bytes, eb.server.max_reply_bytes);
  EXPECT_EQ(ea.server.keep_buffer_bytes, eb.server.keep_buffer_bytes);
  EXPECT_EQ(ea.server.handshake_timeout, eb.server.handshake_timeout);
  EXPECT_EQ(ea.strategy, eb.strategy);
  EXPECT_EQ(ea.weights.topology, eb.weights.topology);
  EXPECT_EQ(ea.weights.density, eb.weights.density);
  EXPECT_EQ(ea.weights.health, eb.weights.health);
  EXPECT_EQ(ea.scheduler_names, eb.scheduler_names);

  const ClusterConfig& ca = a.cluster;
  const ClusterConfig& cb = b.cluster;
  EXPECT_EQ(ca.instance_type_label, cb.instance_type_label);
  EXPECT_EQ(ca.instance_type_prefix, cb.instance_type_prefix);
  EXPECT_EQ(ca.hostname_label, cb.hostname_label);
  EXPECT_EQ(ca.topology_levels, cb.topology_levels);
  EXPECT_EQ(ca.health_label, cb.health_label);
  EXPECT_EQ(ca.schedulable_health_values, cb.schedulable_health_values);
  EXPECT_EQ(ca.deep_health_label, cb.deep_health_label);
  EXPECT_EQ(ca.deep_health_passed, cb.deep_health_passed);
  EXPECT_EQ(ca.deep_health_in_progress, cb.deep_health_in_progress);
  EXPECT_EQ(ca.deep_health_failed, cb.deep_health_failed);
  EXPECT_EQ(ca.health_taint_key, cb.health_taint_key);
  EXPECT_EQ(ca.queue_name_label, cb.queue_name_label);
  EXPECT_EQ(ca.priority_class_label, cb.priority_class_label);
  EXPECT_EQ(ca.required_topology_annotation, cb.required_topology_annotation);
  EXPECT_EQ(ca.preferred_topology_annotation, cb.preferred_topology_annotation);
  EXPECT_EQ(ca.pod_group_label, cb.pod_group_label);
  EXPECT_EQ(ca.pod_group_total_count_annotation, cb.pod_group_total_count_annotation);
  EXPECT_EQ(ca.group_fallback_labels, cb.group_fallback_labels);
  EXPECT_EQ(ca.team_namespace_prefix, cb.team_namespace_prefix);
  EXPECT_EQ(ca.max_pods_per_instance_type, cb.max_pods_per_instance_type);

  const WebhookConfig& wa = a.webhook;
  const WebhookConfig& wb = b.webhook;
  EXPECT_EQ(a.extender.debug_endpoints, b.extender.debug_endpoints);
  EXPECT_EQ(wa.listen, wb.listen);
  EXPECT_EQ(wa.tls_cert_file, wb.tls_cert_file);
  EXPECT_EQ(wa.tls_private_key_file, wb.tls_private_key_file);
  EXPECT_EQ(wa.cert_reload_interval, wb.cert_reload_interval);
  EXPECT_EQ(wa.server.max_body_bytes, wb.server.max_body_bytes);
  EXPECT_EQ(wa.server.max_header_bytes, wb.server.max_header_bytes);
  EXPECT_EQ(wa.server.read_timeout, wb.server.read_timeout);
  EXPECT_EQ(wa.server.write_timeout, wb.server.write_timeout);
  EXPECT_EQ(wa.server.idle_timeout, wb.server.idle_timeout);
  EXPECT_EQ(wa.server.max_keepalive_requests, wb.server.max_keepalive_requests);
  EXPECT_EQ(wa.server.threads, wb.server.threads);
  EXPECT_EQ(wa.server.event_loops, wb.server.event_loops);
  EXPECT_EQ(wa.server.max_connections, wb.server.max_connections);
  EXPECT_EQ(wa.server.max_in_flight, wb.server.max_in_flight);
  EXPECT_EQ(wa.server.max_reply_bytes, wb.server.max_reply_bytes);
  EXPECT_EQ(wa.server.keep_buffer_bytes, wb.server.keep_buffer_bytes);
  EXPECT_EQ(wa.server.handshake_timeout, wb.server.handshake_timeout);
  EXPECT_EQ(wa.local_queue_template, wb.local_queue_template);
  EXPECT_EQ(wa.team_group_template, wb.team_group_template);
  EXPECT_EQ(wa.admin_groups, wb.admin_groups);
  EXPECT_EQ(wa.trusted_service_account_namespaces, wb.trusted_service_account_namespaces);
  EXPECT_EQ(wa.trusted_users, wb.trusted_users);
  ASSERT_EQ(wa.priority_classes.size(), wb.priority_classes.size());
  for (std::size_t i = 0; i < wa.priority_classes.size(); ++i) {
    EXPECT_EQ(wa.priority_classes[i].name, wb.priority_classes[i].name) << i;
    EXPECT_EQ(wa.priority_classes[i].value, wb.priority_classes[i].value) << i;
  }
  EXPECT_EQ(wa.default_priority_class, wb.default_priority_class);
  EXPECT_EQ(wa.team_max_priority_class, wb.team_max_priority_class);
  EXPECT_EQ(wa.scheduler_name, wb.scheduler_name);

  const KubeConfig& ka = a.kube;
  const KubeConfig& kb = b.kube;
  EXPECT_EQ(ka.assume_timeout, kb.assume_timeout);
  EXPECT_EQ(ka.request_timeout, kb.request_timeout);
  EXPECT_EQ(ka.bind_timeout, kb.bind_timeout);
  EXPECT_EQ(ka.watch_timeout, kb.watch_timeout);
  EXPECT_EQ(ka.backoff_initial, kb.backoff_initial);
  EXPECT_EQ(ka.backoff_max, kb.backoff_max);
  EXPECT_EQ(ka.list_page_size, kb.list_page_size);
  EXPECT_EQ(ka.watch_kueue, kb.watch_kueue);

  EXPECT_EQ(a.log.level, b.log.level);
  EXPECT_EQ(a.log.format, b.log.format);
}

// Every field differs from its default.
Config CustomConfig() {
  Config c;
  c.extender.listen = "[::1]:9999";
  c.extender.tls_cert_file = "/etc/hyperplace/extender-tls/tls.crt";
  c.extender.tls_private_key_file = "extender: key";
  c.extender.client_ca_file = "/etc/hyperplace/scheduler-ca/ca.crt";
  c.extender.cert_reload_interval = milliseconds(1000);
  c.extender.health_listen = "0.0.0.0:8080";
  c.extender.server.max_body_bytes = 1536;
  c.extender.server.max_header_bytes = 1024 * 1024;
  c.extender.server.read_timeout = milliseconds(1500);
  c.extender.server.write_timeout = milliseconds(90000);
  c.extender.server.idle_timeout = milliseconds(3600000);
  c.extender.server.max_keepalive_requests = 1000;
  c.extender.server.threads = 256;
  c.extender.server.event_loops = 64;
  c.extender.server.max_connections = 1;
  c.extender.server.max_in_flight = 65536;
  c.extender.server.max_reply_bytes = 4096;
  c.extender.server.keep_buffer_bytes = 0;
  c.extender.server.handshake_timeout = milliseconds(1);
  c.extender.strategy = DensityStrategy::kSpread;
  c.extender.weights = {0, 1000, 7};
  c.extender.scheduler_names = {"gpu-scheduler"};
  c.extender.debug_endpoints = true;
  c.cluster.instance_type_label = "example.com/type";
  c.cluster.instance_type_prefix = "p-";
  c.cluster.topology_levels = {"zone", "example.com/rack"};
  c.cluster.health_label = "example.com/health";
  c.cluster.schedulable_health_values = {"ok", "null", "true", "123", "~"};
  c.cluster.hostname_label = "example.com/node-name";
  c.cluster.deep_health_label = "example.com/deep";
  c.cluster.deep_health_passed = "yes";
  c.cluster.deep_health_in_progress = "pending: now";
  c.cluster.deep_health_failed = "#no";
  c.cluster.health_taint_key = "example.com/taint";
  c.cluster.queue_name_label = "example.com/queue";
  c.cluster.priority_class_label = "example.com/priority";
  c.cluster.required_topology_annotation = "example.com/required";
  c.cluster.preferred_topology_annotation = "example.com/preferred";
  c.cluster.pod_group_label = "example.com/group";
  c.cluster.pod_group_total_count_annotation = "example.com/count";
  c.cluster.group_fallback_labels = {};
  c.cluster.team_namespace_prefix = "team-";
  c.cluster.max_pods_per_instance_type = {{"p-small", 1}, {"p-big", 100000}};
  c.webhook.listen = "127.0.0.1:9443";
  c.webhook.tls_cert_file = "certs/tls.crt";
  c.webhook.tls_private_key_file = "/etc/hyperplace/tls: key";
  c.webhook.cert_reload_interval = milliseconds(3600000);
  c.webhook.server.max_body_bytes = 2048;
  c.webhook.server.max_header_bytes = 4096;
  c.webhook.server.read_timeout = milliseconds(250);
  c.webhook.server.write_timeout = milliseconds(600000);
  c.webhook.server.idle_timeout = milliseconds(1000);
  c.webhook.server.max_keepalive_requests = 7;
  c.webhook.server.threads = 2;
  c.webhook.server.event_loops = 1;
  c.webhook.server.max_connections = 65536;
  c.webhook.server.max_in_flight = 1;
  c.webhook.server.max_reply_bytes = std::size_t{4} << 30;
  c.webhook.server.keep_buffer_bytes = 1u << 30;
  c.webhook.server.handshake_timeout = milliseconds(600000);
  c.webhook.local_queue_template = "{team}";
  c.webhook.team_group_template = "oidc:{team} users";
  c.webhook.admin_groups = {};
  c.webhook.trusted_service_account_namespaces = {"ops"};
  c.webhook.trusted_users = {"system:admin", "true", "~"};
  c.webhook.priority_classes = {{"high", 1000000000}, {"low", -1000000000}, {"zero", 0}};
  c.webhook.default_priority_class = "zero";
  c.webhook.team_max_priority_class = {{"a", "low"}, {"team-b", "zero"}};
  c.webhook.scheduler_name = "gpu-scheduler";
  c.kube.assume_timeout = milliseconds(1000);
  c.kube.request_timeout = milliseconds(120000);
  c.kube.bind_timeout = milliseconds(4900);
  c.kube.watch_timeout = milliseconds(10000);
  c.kube.backoff_initial = milliseconds(10);
  c.kube.backoff_max = milliseconds(600000);
  c.kube.list_page_size = 10000;
  c.kube.watch_kueue = false;
  c.log.level = LogLevel::kDebug;
  c.log.format = LogFormat::kJson;
  return c;
}

TEST(ConfigTest, EmptyDocumentGivesDefaults) {
  for (const char* yaml : {"", "{}", "---\n", "# only a comment\n", "extender:\n", "log: {}\n",
                           "webhook: {}\n", "kube:\n"}) {
    SCOPED_TRACE(yaml);
    StatusOr<Config> config = ParseConfig(yaml);
    ASSERT_TRUE(config.ok()) << config.status().message();
    ExpectSameConfig(*config, Config{});
  }
}

TEST(ConfigTest, DefaultConfigIsValid) {
  EXPECT_EQ(ValidateConfig(Config{}), std::vector<std::string>{});
}

TEST(ConfigTest, NullValueKeepsDefault) {
  StatusOr<Config> config = ParseConfig(
      "extender:\n  listen:\n  server: ~\n  weights: {topology: null}\n"
      "cluster:\n  topologyLevels:\n  maxPodsPerInstanceType:\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  ExpectSameConfig(*config, Config{});
}

TEST(ConfigTest, FieldsOverrideDefaults) {
  StatusOr<Config> config = ParseConfig(R"(
extender:
  listen: "127.0.0.1:9000"
  server:
    maxBodyBytes: 32Mi
    maxHeaderBytes: 8192
    readTimeout: 2s
    writeTimeout: 1m30s
    idleTimeout: 1h
    maxKeepAliveRequests: 100
    threads: 4
    eventLoops: 3
    maxConnections: 64
    maxInFlight: 32
    maxReplyBytes: 100Mi
    keepBufferBytes: 2Mi
    handshakeTimeout: 3s
  strategy: spread
  weights: {topology: 10, density: 0, health: 3}
cluster:
  topologyLevels: [a/one, a/two]
  schedulableHealthValues: [Schedulable, Maybe]
  groupFallbackLabels: []
  teamNamespacePrefix: team-
log:
  level: warn
  format: json
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const ServerLimits& s = config->extender.server;
  EXPECT_EQ(config->extender.listen, "127.0.0.1:9000");
  EXPECT_EQ(s.max_body_bytes, 32u << 20);
  EXPECT_EQ(s.max_header_bytes, 8192u);
  EXPECT_EQ(s.read_timeout, milliseconds(2000));
  EXPECT_EQ(s.write_timeout, milliseconds(90000));
  EXPECT_EQ(s.idle_timeout, milliseconds(3600000));
  EXPECT_EQ(s.max_keepalive_requests, 100u);
  EXPECT_EQ(s.threads, 4u);
  EXPECT_EQ(s.event_loops, 3u);
  EXPECT_EQ(s.max_connections, 64u);
  EXPECT_EQ(s.max_in_flight, 32u);
  EXPECT_EQ(s.max_reply_bytes, 100u << 20);
  EXPECT_EQ(s.keep_buffer_bytes, 2u << 20);
  EXPECT_EQ(s.handshake_timeout, milliseconds(3000));
  EXPECT_EQ(config->extender.strategy, DensityStrategy::kSpread);
  EXPECT_EQ(config->extender.weights.topology, 10u);
  EXPECT_EQ(config->extender.weights.density, 0u);
  EXPECT_EQ(config->extender.weights.health, 3u);
  EXPECT_EQ(config->cluster.topology_levels, (std::vector<std::string>{"a/one", "a/two"}));
  EXPECT_EQ(config->cluster.schedulable_health_values,
            (std::vector<std::string>{"Schedulable", "Maybe"}));
  EXPECT_TRUE(config->cluster.group_fallback_labels.empty());
  EXPECT_EQ(config->cluster.team_namespace_prefix, "team-");
  EXPECT_EQ(config->log.level, LogLevel::kWarn);
  EXPECT_EQ(config->log.format, LogFormat::kJson);
  // Untouched fields keep their defaults.
  EXPECT_EQ(config->cluster.health_label, ClusterConfig{}.health_label);
  EXPECT_EQ(config->cluster.max_pods_per_instance_type, ClusterConfig::DefaultMaxPods());
}

TEST(ConfigTest, DefaultMaxPodsMatchesDesignTable) {
  // Copied verbatim from DESIGN §1.
  const char* kTable = R"(
ml.p4d.24xlarge 49   ml.p4de.24xlarge 49  ml.p5.48xlarge 49    ml.trn1.32xlarge 49  ml.trn1n.32xlarge 49
ml.g5.xlarge 14      ml.g5.2xlarge 14     ml.g5.4xlarge 29     ml.g5.8xlarge 29     ml.g5.12xlarge 49
ml.g5.16xlarge 29    ml.g5.24xlarge 49    ml.g5.48xlarge 49    ml.c5.large 9        ml.c5.xlarge 14
ml.c5.2xlarge 14     ml.c5.4xlarge 29     ml.c5.9xlarge 29     ml.c5.12xlarge 29    ml.c5.18xlarge 49
ml.c5.24xlarge 49    ml.c5n.large 9       ml.c5n.2xlarge 14    ml.c5n.4xlarge 29    ml.c5n.9xlarge 29
ml.c5n.18xlarge 49   ml.m5.large 9        ml.m5.xlarge 14      ml.m5.2xlarge 14     ml.m5.4xlarge 29
ml.m5.8xlarge 29     ml.m5.12xlarge 29    ml.m5.16xlarge 49    ml.m5.24xlarge 49    ml.t3.medium 5
ml.t3.large 11       ml.t3.xlarge 14      ml.t3.2xlarge 14     ml.c6.xlarge 14      ml.g6.2xlarge 14
ml.g6.4xlarge 29     ml.g6.8xlarge 29     ml.g6.12xlarge 29    ml.g6.16xlarge 49    ml.g6.24xlarge 49
ml.g6.48xlarge 49    ml.gr6.4xlarge 29    ml.gr6.8xlarge 29    ml.g6e.xlarge 14     ml.g6e.2xlarge 14
ml.g6e.4xlarge 29    ml.g6e.8xlarge 29    ml.g6e.12xlarge 29   ml.g6e.16xlarge 49   ml.g6e.24xlarge 49
ml.g6e.48xlarge 49
)";
  std::map<std::string, std::uint32_t> expected;
  std::istringstream in(kTable);
  std::string type;
  std::uint32_t max_pods;
  while (in >> type >> max_pods) expected[type] = max_pods;
  ASSERT_EQ(expected.size(), 56u);
  EXPECT_EQ(ClusterConfig::DefaultMaxPods(), expected);
  EXPECT_EQ(ClusterConfig{}.max_pods_per_instance_type, expected);
}

TEST(ConfigTest, MaxPodsTableReplacesDefaults) {
  StatusOr<Config> config =
      ParseConfig("cluster:\n  maxPodsPerInstanceType:\n    ml.p5.48xlarge: 100\n    ml.new: 7\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  std::map<std::string, std::uint32_t> expected = {{"ml.p5.48xlarge", 100}, {"ml.new", 7}};
  EXPECT_EQ(config->cluster.max_pods_per_instance_type, expected);

  config = ParseConfig("cluster: {maxPodsPerInstanceType: {}}");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->cluster.max_pods_per_instance_type.empty());
}

TEST(ConfigTest, TopLevelScalarOrListIsRejected) {
  for (const char* yaml : {"42", "[extender]", "just some text", "- a\n- b\n"}) {
    SCOPED_TRACE(yaml);
    EXPECT_EQ(ErrorLines(yaml),
              std::vector<std::string>{
                  "(root): must be a mapping with the sections extender, webhook, cluster, kube "
                  "and log"});
  }
}

TEST(ConfigTest, MultipleDocumentsAreRejected) {
  EXPECT_EQ(ErrorLines("log: {}\n---\nlog: {}\n"),
            std::vector<std::string>{"(root): expected one YAML document, found 2"});
}

struct ErrorCase {
  const char* yaml;
  const char* error;
};

TEST(ConfigTest, UnknownKeyIsReportedWithItsPath) {
  const ErrorCase kCases[] = {
      {"extender: {servr: {}}", "extender.servr: unknown field"},
      {"webhook: {lissen: x}", "webhook.lissen: unknown field"},
      {"webhook: {server: {thread: 8}}", "webhook.server.thread: unknown field"},
      {"webhook: {priorityClasses: [{name: a, value: 1, weight: 2}]}",
       "webhook.priorityClasses[0].weight: unknown field"},
      {"kube: {watch: 1s}", "kube.watch: unknown field"},
      {"kubernetes: {}", "kubernetes: unknown field"},
      {"extender: {server: {thread: 8}}", "extender.server.thread: unknown field"},
      {"extender: {weights: {topo: 1}}", "extender.weights.topo: unknown field"},
      {"cluster: {healthlabel: a}", "cluster.healthlabel: unknown field"},
      {"log: {lvl: debug}", "log.lvl: unknown field"},
      {"log: {? [a]\n: b}", "log: keys must be strings"},
  };
  for (const ErrorCase& c : kCases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_EQ(ErrorLines(c.yaml), std::vector<std::string>{c.error});
  }
}

TEST(ConfigTest, DuplicateKeyIsReported) {
  EXPECT_EQ(ErrorLines("log:\n  level: debug\n  level: warn\n"),
            std::vector<std::string>{"log.level: duplicate field"});
  EXPECT_EQ(ErrorLines("cluster:\n  maxPodsPerInstanceType: {ml.a: 1, ml.a: 2}\n"),
            std::vector<std::string>{R"(cluster.maxPodsPerInstanceType["ml.a"]: duplicate key)"});
  EXPECT_EQ(ErrorLines("webhook:\n  teamMaxPriorityClass: {a: x, a: y}\n"),
            std::vector<std::string>{R"(webhook.teamMaxPriorityClass["a"]: duplicate key)"});
  EXPECT_EQ(ErrorLines("webhook:\n  priorityClasses: [{name: a, name: b, value: 1}]\n"),
            std::vector<std::string>{"webhook.priorityClasses[0].name: duplicate field"});
}

TEST(ConfigTest, WrongTypeIsReportedWithItsPath) {
  const ErrorCase kCases[] = {
      {"extender: [1]", "extender: must be a mapping"},
      {"extender: {server: 5}", "extender.server: must be a mapping"},
      {"extender: {listen: [a]}", "extender.listen: must be a string"},
      {"extender: {server: {threads: many}}", "extender.server.threads: must be an integer"},
      {"extender: {server: {threads: \"8\"}}", "extender.server.threads: must be an integer"},
      {"extender: {server: {threads: 1.5}}", "extender.server.threads: must be an integer"},
      {"extender: {server: {threads: [8]}}", "extender.server.threads: must be an integer"},
      {"extender: {server: {readTimeout: [1]}}",
       "extender.server.readTimeout: must be a duration such as 250ms, 4s or 1m30s"},
      {"extender: {server: {maxBodyBytes: {a: 1}}}",
       "extender.server.maxBodyBytes: must be a byte size: an integer or a quantity such as 64Mi "
       "or 500k"},
      {"extender: {strategy: {a: 1}}", "extender.strategy: must be one of pack, spread"},
      {"extender: {strategy: packed}",
       R"(extender.strategy: must be one of pack, spread (got "packed"))"},
      {"log: {level: verbose}",
       R"(log.level: must be one of debug, info, warn, error (got "verbose"))"},
      {"log: {format: xml}", R"(log.format: must be one of text, json (got "xml"))"},
      {"cluster: {topologyLevels: abc}", "cluster.topologyLevels: must be a list of strings"},
      {"cluster: {topologyLevels: [a, [b]]}", "cluster.topologyLevels[1]: must be a string"},
      {"cluster: {maxPodsPerInstanceType: [a]}",
       "cluster.maxPodsPerInstanceType: must be a mapping of names to integers"},
      {"cluster: {maxPodsPerInstanceType: {ml.x: lots}}",
       R"(cluster.maxPodsPerInstanceType["ml.x"]: must be an integer)"},
  };
  for (const ErrorCase& c : kCases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_EQ(ErrorLines(c.yaml), std::vector<std::string>{c.error});
  }
}

TEST(ConfigTest, OutOfRangeValueIsReportedWithItsRange) {
  const ErrorCase kCases[] = {
      {"extender: {server: {threads: 0}}",
       "extender.server.threads: must be between 1 and 256 (got 0)"},
      {"webhook: {server: {eventLoops: 0}}",
       "webhook.server.eventLoops: must be between 1 and 64 (got 0)"},
      {"extender: {server: {eventLoops: 65}}",
       "extender.server.eventLoops: must be between 1 and 64 (got 65)"},
      {"extender: {server: {threads: 257}}",
       "extender.server.threads: must be between 1 and 256 (got 257)"},
      {"extender: {server: {threads: -1}}",
       "extender.server.threads: must be between 1 and 256 (got -1)"},
      {"extender: {server: {maxConnections: 0}}",
       "extender.server.maxConnections: must be between 1 and 65536 (got 0)"},
      {"webhook: {server: {maxInFlight: 70000}}",
       "webhook.server.maxInFlight: must be between 1 and 65536 (got 70000)"},
      {"extender: {server: {maxQueuedConnections: 8}}",
       "extender.server.maxQueuedConnections: unknown field"},
      {"extender: {server: {threads: 99999999999999999999999}}",
       "extender.server.threads: must be between 1 and 256 (got 99999999999999999999999)"},
      {"extender: {server: {maxConnections: 65537}}",
       "extender.server.maxConnections: must be between 1 and 65536 (got 65537)"},
      {"extender: {server: {maxKeepAliveRequests: 4294967296}}",
       "extender.server.maxKeepAliveRequests: must be between 0 and 4294967295 (got 4294967296)"},
      {"extender: {server: {maxBodyBytes: 2Gi}}",
       "extender.server.maxBodyBytes: must be between 1Ki and 1Gi (got 2Gi)"},
      {"extender: {server: {maxBodyBytes: 512}}",
       "extender.server.maxBodyBytes: must be between 1Ki and 1Gi (got 512)"},
      {"extender: {server: {maxBodyBytes: 99999999999999999999Ei}}",
       "extender.server.maxBodyBytes: must be between 1Ki and 1Gi (got 99999999999999999999Ei)"},
      {"extender: {server: {maxHeaderBytes: 2Mi}}",
       "extender.server.maxHeaderBytes: must be between 1Ki and 1Mi (got 2Mi)"},
      {"extender: {server: {readTimeout: 0s}}",
       "extender.server.readTimeout: must be between 1ms and 10m (got 0s)"},
      {"extender: {server: {writeTimeout: 10m1ms}}",
       "extender.server.writeTimeout: must be between 1ms and 10m (got 10m1ms)"},
      {"extender: {server: {idleTimeout: 500ms}}",
       "extender.server.idleTimeout: must be between 1s and 1h (got 500ms)"},
      {"extender: {weights: {density: 1001}}",
       "extender.weights.density: must be between 0 and 1000 (got 1001)"},
      {"cluster: {maxPodsPerInstanceType: {ml.x: 0}}",
       R"(cluster.maxPodsPerInstanceType["ml.x"]: must be between 1 and 100000 (got 0))"},
      {"cluster: {maxPodsPerInstanceType: {ml.x: 100001}}",
       R"(cluster.maxPodsPerInstanceType["ml.x"]: must be between 1 and 100000 (got 100001))"},
  };
  for (const ErrorCase& c : kCases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_EQ(ErrorLines(c.yaml), std::vector<std::string>{c.error});
  }
}

TEST(ConfigTest, EveryErrorIsReportedAtOnce) {
  std::vector<std::string> errors = ErrorLines(R"(
extender:
  servr: {}
  listen: nohost
  server:
    readTimeout: 4
    threads: 0
cluster:
  topologyLevels: [a, "Bad Key", a]
  maxPodsPerInstanceType: {ml.x: 0}
log:
  level: verbose
)");
  // Decoding errors first, in schema order (a section's unknown keys at its end), then the
  // validation of the decoded values.
  std::vector<std::string> expected = {
      R"(extender.server.readTimeout: invalid duration "4": missing unit (use h, m, s or ms))",
      "extender.server.threads: must be between 1 and 256 (got 0)",
      "extender.servr: unknown field",
      R"(cluster.maxPodsPerInstanceType["ml.x"]: must be between 1 and 100000 (got 0))",
      R"(log.level: must be one of debug, info, warn, error (got "verbose"))",
      R"(extender.listen: invalid address "nohost": missing port (expected HOST:PORT))",
      R"(cluster.topologyLevels[1]: invalid key "Bad Key": name part must consist of )"
      R"(alphanumerics, '-', '_' or '.', and must start and end with an alphanumeric)",
      R"(cluster.topologyLevels[2]: duplicate of cluster.topologyLevels[0] ("a"))",
  };
  EXPECT_EQ(errors, expected);
}

TEST(ConfigTest, ValidateConfigChecksCrossFieldRules) {
  struct Case {
    const char* name;
    void (*mutate)(Config&);
    std::vector<std::string> errors;
  };
  const Case kCases[] = {
      {"all weights zero",
       [](Config& c) {
         c.extender.weights = {0, 0, 0};
       },
       {"extender.weights: at least one weight must be greater than 0"}},
      {"threads set in code",
       [](Config& c) { c.extender.server.threads = 0; },
       {"extender.server.threads: must be between 1 and 256 (got 0)"}},
      {"body size set in code",
       [](Config& c) { c.extender.server.max_body_bytes = 1000; },
       {"extender.server.maxBodyBytes: must be between 1Ki and 1Gi (got 1000)"}},
      {"listen",
       [](Config& c) { c.extender.listen = "::1:80"; },
       {R"(extender.listen: invalid address "::1:80": an IPv6 address must be in brackets, )"
        R"(as in [::1]:8888)"}},
      {"no topology levels",
       [](Config& c) { c.cluster.topology_levels.clear(); },
       {"cluster.topologyLevels: must list between 1 and 8 label keys (got 0)"}},
      {"nine topology levels",
       [](Config& c) {
         c.cluster.topology_levels = {"l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"};
       },
       {"cluster.topologyLevels: must list between 1 and 8 label keys (got 9)"}},
      {"duplicate fallback label",
       [](Config& c) {
         c.cluster.group_fallback_labels = {"a", "b", "b"};
       },
       {R"(cluster.groupFallbackLabels[2]: duplicate of cluster.groupFallbackLabels[1] ("b"))"}},
      {"no schedulable values",
       [](Config& c) { c.cluster.schedulable_health_values.clear(); },
       {"cluster.schedulableHealthValues: must not be empty"}},
      {"empty schedulable value",
       [](Config& c) {
         c.cluster.schedulable_health_values = {"ok", ""};
       },
       {"cluster.schedulableHealthValues[1]: must not be empty"}},
      {"deep health values equal",
       [](Config& c) {
         c.cluster.deep_health_in_progress = "Passed";
         c.cluster.deep_health_failed = "";
       },
       {R"(cluster.deepHealthInProgress: must differ from cluster.deepHealthPassed (both "Passed"))",
        "cluster.deepHealthFailed: must not be empty"}},
      {"empty instance type prefix",
       [](Config& c) { c.cluster.instance_type_prefix = ""; },
       {"cluster.instanceTypePrefix: must not be empty"}},
      {"empty team prefix",
       [](Config& c) { c.cluster.team_namespace_prefix = ""; },
       {"cluster.teamNamespacePrefix: must not be empty"}},
      {"upper-case team prefix",
       [](Config& c) { c.cluster.team_namespace_prefix = "Team-"; },
       {R"(cluster.teamNamespacePrefix: must consist of lower-case alphanumerics and '-' and )"
        R"(start with an alphanumeric (got "Team-"))"}},
      {"team prefix starting with a dash",
       [](Config& c) { c.cluster.team_namespace_prefix = "-ns"; },
       {R"(cluster.teamNamespacePrefix: must consist of lower-case alphanumerics and '-' and )"
        R"(start with an alphanumeric (got "-ns"))"}},
      {"team prefix too long",
       [](Config& c) { c.cluster.team_namespace_prefix = std::string(63, 'a'); },
       {"cluster.teamNamespacePrefix: must be no more than 62 characters, so that a namespace "
        "name fits in 63"}},
      {"empty instance type",
       [](Config& c) {
         c.cluster.max_pods_per_instance_type = {{"", 5}};
       },
       {R"(cluster.maxPodsPerInstanceType[""]: instance type must not be empty)"}},
      {"zero max pods in code",
       [](Config& c) {
         c.cluster.max_pods_per_instance_type = {{"ml.x", 0}};
       },
       {R"(cluster.maxPodsPerInstanceType["ml.x"]: must be between 1 and 100000 (got 0))"}},
      {"unknown log level",
       [](Config& c) { c.log.level = static_cast<LogLevel>(42); },
       {"log.level: unknown log level"}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Config config;
    c.mutate(config);
    EXPECT_EQ(ValidateConfig(config), c.errors);
  }
}

TEST(ConfigTest, ValidationErrorsFailParseConfig) {
  EXPECT_EQ(
      ErrorLines("extender: {weights: {topology: 0, density: 0, health: 0}}"),
      std::vector<std::string>{"extender.weights: at least one weight must be greater than 0"});
  EXPECT_EQ(ErrorLines("cluster: {schedulableHealthValues: []}"),
            std::vector<std::string>{"cluster.schedulableHealthValues: must not be empty"});
}

TEST(ConfigTest, InvalidLabelKeyRejected) {
  const std::string kDnsRule =
      "must be a lowercase DNS subdomain (lower-case alphanumerics, '-' and '.', each label "
      "starting and ending with an alphanumeric)";
  const std::string kNameRule =
      "name part must consist of alphanumerics, '-', '_' or '.', and must start and end with an "
      "alphanumeric";
  const std::string long_name(64, 'a');
  const std::string long_prefix = std::string(250, 'a') + ".com";  // 254 characters
  struct Case {
    std::string key;
    std::string error;
  };
  const Case kCases[] = {
      {"", "must not be empty"},
      {"Example.com/name", R"(invalid key "Example.com/name": prefix part )" + kDnsRule},
      {"a..b/name", R"(invalid key "a..b/name": prefix part )" + kDnsRule},
      {"-a.com/name", R"(invalid key "-a.com/name": prefix part )" + kDnsRule},
      {"a_b.com/name", R"(invalid key "a_b.com/name": prefix part )" + kDnsRule},
      {long_prefix + "/name",
       "invalid key \"" + long_prefix + "/name\": prefix part must be no more than 253 characters"},
      {"/name", R"(invalid key "/name": prefix part must not be empty)"},
      {"a.com/", R"(invalid key "a.com/": name part must not be empty)"},
      {"a/b/c", R"(invalid key "a/b/c": must contain at most one '/')"},
      {"-name", R"(invalid key "-name": )" + kNameRule},
      {"name_", R"(invalid key "name_": )" + kNameRule},
      {"na me", R"(invalid key "na me": )" + kNameRule},
      {long_name,
       "invalid key \"" + long_name + "\": name part must be no more than 63 characters"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.key);
    Config config;
    config.cluster.health_label = c.key;
    EXPECT_EQ(ValidateConfig(config), std::vector<std::string>{"cluster.healthLabel: " + c.error});
  }
  // Every key field is checked under its own path.
  EXPECT_EQ(ErrorLines("cluster: {requiredTopologyAnnotation: 'x y', groupFallbackLabels: [ok, "
                       "'-']}"),
            (std::vector<std::string>{
                R"(cluster.requiredTopologyAnnotation: invalid key "x y": )" + kNameRule,
                R"(cluster.groupFallbackLabels[1]: invalid key "-": )" + kNameRule,
            }));
}

TEST(ConfigTest, ValidLabelKeysAccepted) {
  for (const std::string& key :
       {std::string("a"), std::string("A1"), std::string("example.com/Name_1.x-y"),
        std::string("k8s.io/a"), std::string("a-b.c-d/e"), std::string(63, 'z'),
        std::string(253, 'a') + "/b"}) {
    SCOPED_TRACE(key);
    Config config;
    config.cluster.pod_group_label = key;
    EXPECT_EQ(ValidateConfig(config), std::vector<std::string>{});
  }
}

TEST(ConfigTest, QuantitiesAccepted) {
  struct Case {
    const char* text;
    std::size_t bytes;
  };
  const Case kCases[] = {
      {"67108864", 67108864}, {"64Mi", 64u << 20}, {"1Gi", 1u << 30},     {"500k", 500000},
      {"16Ki", 16384},        {"1Ki", 1024},       {"\"2Mi\"", 2u << 20}, {"'4096'", 4096},
      {"1.5Ki", 1536},        {"1M", 1000000},     {"0.5Gi", 512u << 20}, {"1G", 1000000000},
      {"2.000k", 2000},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    StatusOr<Config> config =
        ParseConfig(std::string("extender: {server: {maxBodyBytes: ") + c.text + "}}");
    ASSERT_TRUE(config.ok()) << config.status().message();
    EXPECT_EQ(config->extender.server.max_body_bytes, c.bytes);
  }
}

TEST(ConfigTest, MalformedQuantitiesRejected) {
  const std::string kPath = "extender.server.maxBodyBytes: ";
  const std::string kExpected =
      "must be a byte size: an integer or a quantity such as 64Mi or 500k (got ";
  struct Case {
    const char* text;
    std::string error;
  };
  const Case kCases[] = {
      {"64MB", kExpected + "\"64MB\")"},
      {"64 Mi", kExpected + "\"64 Mi\")"},
      {"Mi", kExpected + "\"Mi\")"},
      {"-1", kExpected + "\"-1\")"},
      {"1.Ki", kExpected + "\"1.Ki\")"},
      {"1e6", kExpected + "\"1e6\")"},
      {"0x400", kExpected + "\"0x400\")"},
      {"1.0001Ki", "must be a whole number of bytes (got 1.0001Ki)"},
      {"1500.5", "must be a whole number of bytes (got 1500.5)"},
      {"1.0000000000000000000000001Ki",
       "must be a whole number of bytes (got 1.0000000000000000000000001Ki)"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(ErrorLines(std::string("extender: {server: {maxBodyBytes: ") + c.text + "}}"),
              std::vector<std::string>{kPath + c.error});
  }
}

TEST(ConfigTest, DurationsParse) {
  struct Case {
    const char* text;
    std::int64_t ms;
  };
  const Case kCases[] = {
      {"250ms", 250},
      {"4s", 4000},
      {"2m", 120000},
      {"1m30s", 90000},
      {"1h", 3600000},
      {"1.5s", 1500},
      {"0s", 0},
      {".5s", 500},
      {"0.25m", 15000},
      {"1h2m3s4ms", 3723004},
      {"1s1s", 2000},
      {"10m", 600000},
      {"0.001s", 1},
      {"1.000000000s", 1000},
      {"2562047788015h12m55s807ms", std::numeric_limits<std::int64_t>::max()},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    StatusOr<milliseconds> d = ParseDuration(c.text);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d->count(), c.ms);
  }
}

TEST(ConfigTest, InvalidDurationsRejected) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case kCases[] = {
      {"", R"(invalid duration "": must not be empty)"},
      {"0", R"(invalid duration "0": missing unit (use h, m, s or ms))"},
      {"4", R"(invalid duration "4": missing unit (use h, m, s or ms))"},
      {"1m30", R"(invalid duration "1m30": missing unit (use h, m, s or ms))"},
      {"-1s", R"(invalid duration "-1s": must not be negative)"},
      {"+1s", R"(invalid duration "+1s": expected a number such as 250ms, 4s, 2m or 1m30s)"},
      {"s", R"(invalid duration "s": expected a number such as 250ms, 4s, 2m or 1m30s)"},
      {"1x", R"(invalid duration "1x": unknown unit "x" (use h, m, s or ms))"},
      {"1us", R"(invalid duration "1us": unknown unit "us" (use h, m, s or ms))"},
      {"1d", R"(invalid duration "1d": unknown unit "d" (use h, m, s or ms))"},
      {"1 s", R"(invalid duration "1 s": unknown unit " s" (use h, m, s or ms))"},
      {"1.0005s", R"(invalid duration "1.0005s": must be a whole number of milliseconds)"},
      {"0.5ms", R"(invalid duration "0.5ms": must be a whole number of milliseconds)"},
      // More significant fractional digits than any unit can absorb (and than fit in 64 bits).
      {"0.000000000000000000000000001h",
       R"(invalid duration "0.000000000000000000000000001h": must be a whole number of )"
       R"(milliseconds)"},
      {"99999999999999999999h", R"(invalid duration "99999999999999999999h": too large)"},
      {"2562047788016h", R"(invalid duration "2562047788016h": too large)"},
      {"2562047788015h12m55s808ms", R"(invalid duration "2562047788015h12m55s808ms": too large)"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    StatusOr<milliseconds> d = ParseDuration(c.text);
    ASSERT_FALSE(d.ok()) << d->count();
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(d.status().message(), c.error);
  }
}

TEST(ConfigTest, FormatDurationRoundTrips) {
  struct Case {
    std::int64_t ms;
    const char* text;
  };
  const Case kCases[] = {
      {0, "0s"},
      {1, "1ms"},
      {999, "999ms"},
      {1000, "1s"},
      {1500, "1s500ms"},
      {4000, "4s"},
      {60000, "1m"},
      {90000, "1m30s"},
      {120000, "2m"},
      {3600000, "1h"},
      {3723004, "1h2m3s4ms"},
      {std::numeric_limits<std::int64_t>::max(), "2562047788015h12m55s807ms"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.ms);
    EXPECT_EQ(FormatDuration(milliseconds(c.ms)), c.text);
    StatusOr<milliseconds> back = ParseDuration(FormatDuration(milliseconds(c.ms)));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->count(), c.ms);
  }
}

TEST(ConfigTest, HostPortParses) {
  struct Case {
    const char* text;
    const char* host;
    std::uint16_t port;
  };
  const Case kCases[] = {
      {"0.0.0.0:8888", "0.0.0.0", 8888},
      {"[::1]:8888", "::1", 8888},
      {"[::]:443", "::", 443},
      {"[fe80::1%eth0]:80", "fe80::1%eth0", 80},
      {"localhost:0", "localhost", 0},
      {"example.com:65535", "example.com", 65535},
      {"h:00080", "h", 80},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    StatusOr<HostPort> hp = ParseHostPort(c.text);
    ASSERT_TRUE(hp.ok()) << hp.status().message();
    EXPECT_EQ(hp->host, c.host);
    EXPECT_EQ(hp->port, c.port);
  }
}

TEST(ConfigTest, InvalidHostPortRejected) {
  struct Case {
    const char* text;
    const char* why;
  };
  const char* kBadPort = "port must be a number between 0 and 65535";
  const Case kCases[] = {
      {"nohost", "missing port (expected HOST:PORT)"},
      {"", "missing port (expected HOST:PORT)"},
      {":8888", "host must not be empty"},
      {"[]:8888", "host must not be empty"},
      {"host:", kBadPort},
      {"host:65536", kBadPort},
      {"host:-1", kBadPort},
      {"host:+80", kBadPort},
      {"host:8o", kBadPort},
      {"host:080800", kBadPort},
      {"host: 80", kBadPort},
      {"::1:80", "an IPv6 address must be in brackets, as in [::1]:8888"},
      {"[::1]", "expected ':' and a port after ']'"},
      {"[::1]80", "expected ':' and a port after ']'"},
      {"[::1:80", "missing ']' after IPv6 address"},
      {"a]:80", "unexpected '[' or ']' in host"},
      {"a b:80", "host must not contain spaces or control characters"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    StatusOr<HostPort> hp = ParseHostPort(c.text);
    ASSERT_FALSE(hp.ok());
    EXPECT_EQ(hp.status().message(), std::string("invalid address \"") + c.text + "\": " + c.why);
  }
}

TEST(ConfigTest, YamlSyntaxErrorNamesLineAndColumn) {
  // yaml-cpp reports the unterminated flow sequence where it gave up: line 2, column 2.
  EXPECT_EQ(ErrorLines("log: [1, 2\nb: 3\n"),
            std::vector<std::string>{"line 2, column 2: end of sequence flow not found"});
  EXPECT_EQ(ErrorLines("log:\n  level: a: b\n"),
            std::vector<std::string>{"line 2, column 11: illegal map value"});
  EXPECT_EQ(ErrorLines("log: *missing\n"),
            std::vector<std::string>{"line 1, column 6: the referenced anchor is not defined"});
}

TEST(ConfigTest, RoundTripReproducesConfig) {
  Config empty_tables;
  empty_tables.cluster.group_fallback_labels.clear();
  empty_tables.cluster.max_pods_per_instance_type.clear();
  for (const Config& original : {Config{}, CustomConfig(), empty_tables}) {
    ASSERT_EQ(ValidateConfig(original), std::vector<std::string>{});
    std::string yaml = ConfigToYaml(original);
    SCOPED_TRACE(yaml);
    EXPECT_EQ(yaml.rfind("# ", 0), 0u);  // starts with the comment header
    StatusOr<Config> parsed = ParseConfig(yaml);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    ExpectSameConfig(*parsed, original);
    EXPECT_EQ(ConfigToYaml(*parsed), yaml);
  }
}

TEST(ConfigTest, ConfigToYamlWritesEveryField) {
  std::string yaml = ConfigToYaml(Config{});
  for (const char* field : {"extender:",
                            "listen: 0.0.0.0:8888",
                            "tlsCertFile:",
                            "clientCAFile:",
                            "healthListen:",
                            "maxBodyBytes: 67108864",
                            "maxHeaderBytes: 16384",
                            "readTimeout: 4s",
                            "writeTimeout: 4s",
                            "idleTimeout: 2m",
                            "maxKeepAliveRequests: 0",
                            "threads: 8",
                            "maxConnections: 1024",
                            "maxInFlight: 256",
                            "maxReplyBytes: 268435456",
                            "keepBufferBytes: 1048576",
                            "handshakeTimeout: 4s",
                            "strategy: pack",
                            "weights: {topology: 4, density: 2, health: 1}",
                            "debugEndpoints: false",
                            "cluster:",
                            "instanceTypeLabel: node.kubernetes.io/instance-type",
                            "instanceTypePrefix: ml.",
                            "hostnameLabel: kubernetes.io/hostname",
                            "topologyLevels:",
                            "healthLabel:",
                            "schedulableHealthValues:",
                            "deepHealthLabel:",
                            "deepHealthPassed: Passed",
                            "deepHealthInProgress: InProgress",
                            "deepHealthFailed: Failed",
                            "healthTaintKey:",
                            "queueNameLabel:",
                            "priorityClassLabel:",
                            "requiredTopologyAnnotation:",
                            "preferredTopologyAnnotation:",
                            "podGroupLabel:",
                            "podGroupTotalCountAnnotation:",
                            "groupFallbackLabels:",
                            "teamNamespacePrefix: hyperpod-ns-",
                            "maxPodsPerInstanceType:",
                            "ml.g6e.48xlarge: 49",
                            "acceleratorResources:",
                            "- nvidia.com/gpu",
                            "- aws.amazon.com/neurondevice",
                            "webhook:",
                            "listen: 0.0.0.0:8443",
                            "tlsCertFile:",
                            "tlsPrivateKeyFile:",
                            "certReloadInterval: 10s",
                            "maxBodyBytes: 8388608",
                            "localQueueTemplate: hyperpod-ns-{team}-localqueue",
                            "teamGroupTemplate: hyperpod-ns-{team}-namespace-level-group",
                            "adminGroups:",
                            "trustedServiceAccountNamespaces:",
                            "trustedUsers:",
                            "priorityClasses:",
                            "{name: inference-priority, value: 15}",
                            "defaultPriorityClass:",
                            "teamMaxPriorityClass: {}",
                            "kube:",
                            "assumeTimeout: 30s",
                            "requestTimeout: 10s",
                            "watchTimeout: 5m",
                            "backoffInitial: 500ms",
                            "backoffMax: 30s",
                            "listPageSize: 500",
                            "watchKueue: true",
                            "log:",
                            "level: info",
                            "format: text"}) {
    EXPECT_NE(yaml.find(field), std::string::npos) << field << "\n" << yaml;
  }
}

TEST(ConfigTest, WebhookAndKubeFieldsOverrideDefaults) {
  StatusOr<Config> config = ParseConfig(R"(
webhook:
  listen: "127.0.0.1:9443"
  tlsCertFile: /etc/hyperplace/tls/tls.crt
  tlsPrivateKeyFile: /etc/hyperplace/tls/tls.key
  certReloadInterval: 30s
  server: {threads: 2, maxBodyBytes: 1Mi}
  localQueueTemplate: lq-{team}
  teamGroupTemplate: "team:{team}"
  adminGroups: [system:masters, platform-admins]
  trustedServiceAccountNamespaces: [kube-system]
  trustedUsers: []
  priorityClasses:
    - {name: urgent-priority, value: 100}
    - name: batch-priority
      value: -5
  defaultPriorityClass: batch-priority
  teamMaxPriorityClass: {team-a: batch-priority}
  schedulerName: ""
kube:
  assumeTimeout: 1m
  requestTimeout: 5s
  watchTimeout: 10m
  backoffInitial: 250ms
  backoffMax: 1m
  listPageSize: 1000
  watchKueue: false
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const WebhookConfig& w = config->webhook;
  EXPECT_EQ(w.listen, "127.0.0.1:9443");
  EXPECT_EQ(w.tls_cert_file, "/etc/hyperplace/tls/tls.crt");
  EXPECT_EQ(w.tls_private_key_file, "/etc/hyperplace/tls/tls.key");
  EXPECT_EQ(w.cert_reload_interval, milliseconds(30000));
  EXPECT_EQ(w.server.threads, 2u);
  EXPECT_EQ(w.server.max_body_bytes, 1u << 20);
  // Server fields not given keep the webhook's own defaults, not the extender's.
  EXPECT_EQ(w.server.read_timeout, WebhookConfig{}.server.read_timeout);
  EXPECT_EQ(w.local_queue_template, "lq-{team}");
  EXPECT_EQ(w.team_group_template, "team:{team}");
  EXPECT_EQ(w.admin_groups, (std::vector<std::string>{"system:masters", "platform-admins"}));
  EXPECT_EQ(w.trusted_service_account_namespaces, std::vector<std::string>{"kube-system"});
  EXPECT_TRUE(w.trusted_users.empty());
  ASSERT_EQ(w.priority_classes.size(), 2u);
  EXPECT_EQ(w.priority_classes[0].name, "urgent-priority");
  EXPECT_EQ(w.priority_classes[0].value, 100);
  EXPECT_EQ(w.priority_classes[1].name, "batch-priority");
  EXPECT_EQ(w.priority_classes[1].value, -5);
  EXPECT_EQ(w.default_priority_class, "batch-priority");
  EXPECT_EQ(w.team_max_priority_class,
            (std::map<std::string, std::string>{{"team-a", "batch-priority"}}));
  EXPECT_EQ(w.scheduler_name, "");
  const KubeConfig& k = config->kube;
  EXPECT_EQ(k.assume_timeout, milliseconds(60000));
  EXPECT_EQ(k.request_timeout, milliseconds(5000));
  EXPECT_EQ(k.watch_timeout, milliseconds(600000));
  EXPECT_EQ(k.backoff_initial, milliseconds(250));
  EXPECT_EQ(k.backoff_max, milliseconds(60000));
  EXPECT_EQ(k.list_page_size, 1000u);
  EXPECT_FALSE(k.watch_kueue);
}

TEST(ConfigTest, WebhookDefaultsMatchDesign) {
  const WebhookConfig w;
  EXPECT_EQ(w.listen, "0.0.0.0:8443");
  EXPECT_TRUE(w.tls_cert_file.empty());
  EXPECT_EQ(w.local_queue_template, "hyperpod-ns-{team}-localqueue");
  EXPECT_EQ(w.team_group_template, "hyperpod-ns-{team}-namespace-level-group");
  EXPECT_EQ(w.admin_groups, std::vector<std::string>{"system:masters"});
  EXPECT_EQ(w.trusted_service_account_namespaces,
            (std::vector<std::string>{"kube-system", "kubeflow", "kueue-system", "jobset-system",
                                      "lws-system", "ray-system", "aws-hyperpod"}));
  EXPECT_EQ(w.trusted_users, std::vector<std::string>{"system:kube-controller-manager"});
  ASSERT_EQ(w.priority_classes.size(), 3u);
  EXPECT_EQ(w.priority_classes[2].name, "fine-tuning-priority");
  EXPECT_EQ(w.priority_classes[2].value, 5);
  EXPECT_TRUE(w.default_priority_class.empty());
  // DESIGN §3 rule 5 and §4: team pods go to hyperplace's own scheduler, which /bind serves.
  EXPECT_EQ(w.scheduler_name, "hyperplace");
  const std::vector<std::string>& served = ExtenderConfig{}.scheduler_names;
  EXPECT_NE(std::find(served.begin(), served.end(), w.scheduler_name), served.end());
}

TEST(ConfigTest, DebugEndpointsAreOffUnlessTurnedOn) {
  EXPECT_FALSE(Config{}.extender.debug_endpoints);
  StatusOr<Config> on = ParseConfig("extender: {listen: 127.0.0.1:8888, debugEndpoints: true}");
  ASSERT_TRUE(on.ok()) << on.status().message();
  EXPECT_TRUE(on->extender.debug_endpoints);
  StatusOr<Config> bad = ParseConfig("extender: {debugEndpoints: sometimes}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("extender.debugEndpoints"), std::string::npos)
      << bad.status().message();
}

TEST(ConfigTest, BooleansAndSignedIntegersParse) {
  for (const char* text : {"true", "True", "TRUE"}) {
    SCOPED_TRACE(text);
    StatusOr<Config> config = ParseConfig(std::string("kube: {watchKueue: ") + text + "}");
    ASSERT_TRUE(config.ok()) << config.status().message();
    EXPECT_TRUE(config->kube.watch_kueue);
  }
  for (const char* text : {"false", "False", "FALSE"}) {
    SCOPED_TRACE(text);
    StatusOr<Config> config = ParseConfig(std::string("kube: {watchKueue: ") + text + "}");
    ASSERT_TRUE(config.ok()) << config.status().message();
    EXPECT_FALSE(config->kube.watch_kueue);
  }
  for (const auto& [text, value] :
       std::vector<std::pair<std::string, std::int32_t>>{{"0", 0},
                                                         {"-0", 0},
                                                         {"-1000000000", -1000000000},
                                                         {"1000000000", 1000000000},
                                                         {"007", 7}}) {
    SCOPED_TRACE(text);
    StatusOr<Config> config =
        ParseConfig("webhook: {priorityClasses: [{name: a, value: " + text + "}]}");
    ASSERT_TRUE(config.ok()) << config.status().message();
    EXPECT_EQ(config->webhook.priority_classes[0].value, value);
  }
}

TEST(ConfigTest, WebhookAndKubeWrongTypesAreReportedWithTheirPaths) {
  const ErrorCase kCases[] = {
      {"webhook: [1]", "webhook: must be a mapping"},
      {"kube: 3", "kube: must be a mapping"},
      {"webhook: {tlsCertFile: [a]}", "webhook.tlsCertFile: must be a string"},
      {"webhook: {certReloadInterval: 10}",
       R"(webhook.certReloadInterval: invalid duration "10": missing unit (use h, m, s or ms))"},
      {"webhook: {server: {threads: x}}", "webhook.server.threads: must be an integer"},
      {"webhook: {adminGroups: a}", "webhook.adminGroups: must be a list of strings"},
      {"webhook: {trustedUsers: [[a]]}", "webhook.trustedUsers[0]: must be a string"},
      {"webhook: {priorityClasses: {a: 1}}", "webhook.priorityClasses: must be a list of mappings"},
      {"webhook: {priorityClasses: [a]}", "webhook.priorityClasses[0]: must be a mapping"},
      {"webhook: {priorityClasses: [{name: a, value: high}]}",
       "webhook.priorityClasses[0].value: must be an integer"},
      {"webhook: {priorityClasses: [{name: a, value: \"5\"}]}",
       "webhook.priorityClasses[0].value: must be an integer"},
      {"webhook: {priorityClasses: [{name: a, value: 1.5}]}",
       "webhook.priorityClasses[0].value: must be an integer"},
      {"webhook: {priorityClasses: [{name: a}]}",
       "webhook.priorityClasses[0].value: required field"},
      {"webhook: {priorityClasses: [{value: 3}]}",
       "webhook.priorityClasses[0].name: required field"},
      {"webhook: {priorityClasses: [{name: a, value: ~}]}",
       "webhook.priorityClasses[0].value: required field"},
      {"webhook: {teamMaxPriorityClass: [a]}",
       "webhook.teamMaxPriorityClass: must be a mapping of names to strings"},
      {"webhook: {teamMaxPriorityClass: {a: [b]}}",
       R"(webhook.teamMaxPriorityClass["a"]: must be a string)"},
      {"kube: {watchKueue: yes}", "kube.watchKueue: must be true or false"},
      {"kube: {watchKueue: \"true\"}", "kube.watchKueue: must be true or false"},
      {"kube: {watchKueue: 1}", "kube.watchKueue: must be true or false"},
      {"kube: {listPageSize: many}", "kube.listPageSize: must be an integer"},
      {"kube: {backoffMax: {a: 1}}",
       "kube.backoffMax: must be a duration such as 250ms, 4s or 1m30s"},
  };
  for (const ErrorCase& c : kCases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_EQ(ErrorLines(c.yaml), std::vector<std::string>{c.error});
  }
}

TEST(ConfigTest, WebhookAndKubeOutOfRangeValuesAreReportedWithTheirRanges) {
  const ErrorCase kCases[] = {
      {"webhook: {certReloadInterval: 999ms}",
       "webhook.certReloadInterval: must be between 1s and 1h (got 999ms)"},
      {"webhook: {certReloadInterval: 1h1ms}",
       "webhook.certReloadInterval: must be between 1s and 1h (got 1h1ms)"},
      {"webhook: {server: {maxBodyBytes: 1}}",
       "webhook.server.maxBodyBytes: must be between 1Ki and 1Gi (got 1)"},
      {"webhook: {priorityClasses: [{name: a, value: 1000000001}]}",
       "webhook.priorityClasses[0].value: must be between -1000000000 and 1000000000 (got "
       "1000000001)"},
      {"webhook: {priorityClasses: [{name: a, value: -1000000001}]}",
       "webhook.priorityClasses[0].value: must be between -1000000000 and 1000000000 (got "
       "-1000000001)"},
      {"webhook: {priorityClasses: [{name: a, value: 99999999999999999999999}]}",
       "webhook.priorityClasses[0].value: must be between -1000000000 and 1000000000 (got "
       "99999999999999999999999)"},
      {"kube: {assumeTimeout: 999ms}",
       "kube.assumeTimeout: must be between 1s and 10m (got 999ms)"},
      {"kube: {assumeTimeout: 11m}", "kube.assumeTimeout: must be between 1s and 10m (got 11m)"},
      {"kube: {requestTimeout: 0s}", "kube.requestTimeout: must be between 1s and 2m (got 0s)"},
      {"kube: {requestTimeout: 2m1s}", "kube.requestTimeout: must be between 1s and 2m (got 2m1s)"},
      {"kube: {watchTimeout: 9s}", "kube.watchTimeout: must be between 10s and 1h (got 9s)"},
      {"kube: {watchTimeout: 2h}", "kube.watchTimeout: must be between 10s and 1h (got 2h)"},
      {"kube: {backoffInitial: 9ms}", "kube.backoffInitial: must be between 10ms and 1m (got 9ms)"},
      {"kube: {backoffInitial: 61s, backoffMax: 2m}",
       "kube.backoffInitial: must be between 10ms and 1m (got 1m1s)"},
      {"kube: {backoffMax: 10m1ms}", "kube.backoffMax: must be between 10ms and 10m (got 10m1ms)"},
      {"kube: {listPageSize: 0}", "kube.listPageSize: must be between 1 and 10000 (got 0)"},
      {"kube: {listPageSize: 10001}", "kube.listPageSize: must be between 1 and 10000 (got 10001)"},
      // kube-scheduler gives up on an extender after 5 s.
      {"kube: {bindTimeout: 5s}", "kube.bindTimeout: must be between 100ms and 4s900ms (got 5s)"},
      {"kube: {bindTimeout: 99ms}",
       "kube.bindTimeout: must be between 100ms and 4s900ms (got 99ms)"},
      {"extender: {schedulerNames: []}",
       "extender.schedulerNames: must name at least one scheduler"},
      {"extender: {schedulerNames: [hyperplace, Hyperplace]}",
       "extender.schedulerNames[1]: must be a lowercase DNS subdomain (lower-case alphanumerics, "
       "'-' and '.', each label starting and ending with an alphanumeric)"},
      {"extender: {schedulerNames: [hyperplace, hyperplace]}",
       "extender.schedulerNames[1]: duplicate of extender.schedulerNames[0] (\"hyperplace\")"},
  };
  for (const ErrorCase& c : kCases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_EQ(ErrorLines(c.yaml), std::vector<std::string>{c.error});
  }
}

TEST(ConfigTest, ValidateConfigChecksWebhookRules) {
  const std::string kDnsRule =
      "must be a lowercase DNS subdomain (lower-case alphanumerics, '-' and '.', each label "
      "starting and ending with an alphanumeric)";
  const std::string kClasses = "inference-priority, training-priority, fine-tuning-priority";
  struct Case {
    const char* name;
    void (*mutate)(Config&);
    std::vector<std::string> errors;
  };
  const Case kCases[] = {
      {"bad listen",
       [](Config& c) { c.webhook.listen = "8443"; },
       {R"(webhook.listen: invalid address "8443": missing port (expected HOST:PORT))"}},
      {"listen on the extender's port",
       [](Config& c) { c.webhook.listen = "127.0.0.1:8888"; },
       {R"(webhook.listen: must not use the port of extender.listen (both "127.0.0.1:8888" and )"
        R"("0.0.0.0:8888"))"}},
      {"certificate without key",
       [](Config& c) { c.webhook.tls_cert_file = "tls.crt"; },
       {"webhook.tlsPrivateKeyFile: must be set when webhook.tlsCertFile is set"}},
      {"key without certificate",
       [](Config& c) { c.webhook.tls_private_key_file = "tls.key"; },
       {"webhook.tlsCertFile: must be set when webhook.tlsPrivateKeyFile is set"}},
      {"reload interval set in code",
       [](Config& c) { c.webhook.cert_reload_interval = milliseconds(0); },
       {"webhook.certReloadInterval: must be between 1s and 1h (got 0s)"}},
      {"server threads set in code",
       [](Config& c) { c.webhook.server.threads = 0; },
       {"webhook.server.threads: must be between 1 and 256 (got 0)"}},
      {"queue template without placeholder",
       [](Config& c) { c.webhook.local_queue_template = "localqueue"; },
       {R"(webhook.localQueueTemplate: must contain {team} (got "localqueue"))"}},
      {"queue template giving an invalid name",
       [](Config& c) { c.webhook.local_queue_template = "Queue_{team}"; },
       {"webhook.localQueueTemplate: must give a valid LocalQueue name: " + kDnsRule +
        R"( (got "Queue_a"))"}},
      {"queue template ending with a dash",
       [](Config& c) { c.webhook.local_queue_template = "{team}-"; },
       {"webhook.localQueueTemplate: must give a valid LocalQueue name: " + kDnsRule +
        R"( (got "a-"))"}},
      {"queue template too long for a label value",
       [](Config& c) { c.webhook.local_queue_template = std::string(63, 'q') + "{team}"; },
       {"webhook.localQueueTemplate: must give a valid LocalQueue name: must be no more than 63 "
        "characters, as it is written as a label value (got \"" +
        std::string(63, 'q') + "a\")"}},
      {"group template without placeholder",
       [](Config& c) { c.webhook.team_group_template = "admins"; },
       {R"(webhook.teamGroupTemplate: must contain {team} (got "admins"))"}},
      {"group template with a newline",
       [](Config& c) { c.webhook.team_group_template = "g\n{team}"; },
       {"webhook.teamGroupTemplate: must not contain control characters"}},
      {"empty and duplicate admin groups",
       [](Config& c) {
         c.webhook.admin_groups = {"", "x", "x"};
       },
       {"webhook.adminGroups[0]: must not be empty",
        R"(webhook.adminGroups[2]: duplicate of webhook.adminGroups[1] ("x"))"}},
      {"trusted namespace that is not a namespace name",
       [](Config& c) { c.webhook.trusted_service_account_namespaces = {"Kube_System"}; },
       {"webhook.trustedServiceAccountNamespaces[0]: must be a namespace name: lower-case "
        R"(alphanumerics and '-', starting and ending with an alphanumeric (got "Kube_System"))"}},
      {"trusted user with a control character",
       [](Config& c) { c.webhook.trusted_users = {"a\tb"}; },
       {"webhook.trustedUsers[0]: must not contain control characters"}},
      {"no priority classes",
       [](Config& c) { c.webhook.priority_classes.clear(); },
       {"webhook.priorityClasses: must list at least one class"}},
      {"priority class name not a DNS subdomain",
       [](Config& c) {
         c.webhook.priority_classes = {{"High", 1}};
       },
       {"webhook.priorityClasses[0].name: " + kDnsRule + R"( (got "High"))"}},
      {"empty priority class name",
       [](Config& c) {
         c.webhook.priority_classes = {{"", 1}};
       },
       {"webhook.priorityClasses[0].name: must not be empty"}},
      {"priority class name longer than a label value",
       [](Config& c) {
         c.webhook.priority_classes = {{std::string(64, 'p'), 1}};
       },
       {"webhook.priorityClasses[0].name: must be no more than 63 characters, as it is written as "
        "a label value (got \"" +
        std::string(64, 'p') + "\")"}},
      {"duplicate priority class",
       [](Config& c) {
         c.webhook.priority_classes = {{"a", 1}, {"b", 2}, {"a", 3}};
       },
       {R"(webhook.priorityClasses[2].name: duplicate of webhook.priorityClasses[0].name ("a"))"}},
      {"priority value set in code",
       [](Config& c) {
         c.webhook.priority_classes = {{"a", 2000000000}};
       },
       {"webhook.priorityClasses[0].value: must be between -1000000000 and 1000000000 (got "
        "2000000000)"}},
      {"unknown default class",
       [](Config& c) { c.webhook.default_priority_class = "gold"; },
       {"webhook.defaultPriorityClass: must be empty or one of " + kClasses + R"( (got "gold"))"}},
      {"team maximum naming an unknown class",
       [](Config& c) {
         c.webhook.team_max_priority_class = {{"team-a", "gold"}};
       },
       {R"(webhook.teamMaxPriorityClass["team-a"]: must be one of )" + kClasses +
        R"( (got "gold"))"}},
      {"team maximum for an invalid team name",
       [](Config& c) {
         c.webhook.team_max_priority_class = {{"Team A", "training-priority"}};
       },
       {R"(webhook.teamMaxPriorityClass["Team A"]: team name must consist of lower-case )"
        "alphanumerics and '-', and start and end with an alphanumeric"}},
      {"team maximum for a team whose namespace is too long",
       [](Config& c) {
         c.webhook.team_max_priority_class = {{std::string(52, 't'), "training-priority"}};
       },
       {"webhook.teamMaxPriorityClass[\"" + std::string(52, 't') +
        "\"]: team name makes the namespace \"hyperpod-ns-" + std::string(52, 't') +
        "\" longer than 63 characters"}},

      {"scheduler name that /bind would refuse",
       [](Config& c) { c.webhook.scheduler_name = "volcano"; },
       {"webhook.schedulerName: must be empty or one of extender.schedulerNames (hyperplace, "
        R"(default-scheduler), whose pods /bind accepts (got "volcano"))"}},
      {"scheduler name that is no DNS subdomain",
       [](Config& c) {
         c.webhook.scheduler_name = "Hyperplace";
         c.extender.scheduler_names = {"Hyperplace"};
       },
       {"extender.schedulerNames[0]: " + kDnsRule, "webhook.schedulerName: " + kDnsRule}},
      {"off", [](Config& c) { c.webhook.scheduler_name.clear(); }, {}},
      {"another scheduler that /bind serves",
       [](Config& c) {
         c.extender.scheduler_names = {"gpu"};
         c.webhook.scheduler_name = "gpu";
       },
       {}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Config config;
    c.mutate(config);
    EXPECT_EQ(ValidateConfig(config), c.errors);
  }
}

TEST(ConfigTest, ExtenderTlsFieldsOverrideDefaults) {
  StatusOr<Config> config = ParseConfig(R"(
extender:
  tlsCertFile: /etc/hyperplace/tls/tls.crt
  tlsPrivateKeyFile: /etc/hyperplace/tls/tls.key
  clientCAFile: /etc/hyperplace/tls/ca.crt
  certReloadInterval: 1m
  healthListen: 0.0.0.0:8080
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const ExtenderConfig& e = config->extender;
  EXPECT_EQ(e.tls_cert_file, "/etc/hyperplace/tls/tls.crt");
  EXPECT_EQ(e.tls_private_key_file, "/etc/hyperplace/tls/tls.key");
  EXPECT_EQ(e.client_ca_file, "/etc/hyperplace/tls/ca.crt");
  EXPECT_EQ(e.cert_reload_interval, milliseconds(60000));
  EXPECT_EQ(e.health_listen, "0.0.0.0:8080");
  // The webhook's files stay unset: the two listeners are configured apart.
  EXPECT_EQ(config->webhook.tls_cert_file, "");
  // Plain HTTP, no client CA, no health listener by default (DESIGN §4).
  EXPECT_EQ(ExtenderConfig{}.tls_cert_file, "");
  EXPECT_EQ(ExtenderConfig{}.client_ca_file, "");
  EXPECT_EQ(ExtenderConfig{}.health_listen, "");
  EXPECT_EQ(ErrorLines("extender: {certReloadInterval: 500ms}"),
            std::vector<std::string>{
                "extender.certReloadInterval: must be between 1s and 1h (got 500ms)"});
  EXPECT_EQ(ErrorLines("extender: {clientCaFile: ca.crt}"),
            std::vector<std::string>{"extender.clientCaFile: unknown field"});
}

TEST(ConfigTest, ValidateConfigChecksExtenderTlsRules) {
  struct Case {
    const char* name;
    void (*mutate)(Config&);
    std::vector<std::string> errors;
  };
  const Case kCases[] = {
      {"certificate and key",
       [](Config& c) {
         c.extender.tls_cert_file = "tls.crt";
         c.extender.tls_private_key_file = "tls.key";
       },
       {}},
      {"certificate, key and client CA",
       [](Config& c) {
         c.extender.tls_cert_file = "tls.crt";
         c.extender.tls_private_key_file = "tls.key";
         c.extender.client_ca_file = "ca.crt";
       },
       {}},
      {"certificate without key",
       [](Config& c) { c.extender.tls_cert_file = "tls.crt"; },
       {"extender.tlsPrivateKeyFile: must be set when extender.tlsCertFile is set"}},
      {"key without certificate",
       [](Config& c) { c.extender.tls_private_key_file = "tls.key"; },
       {"extender.tlsCertFile: must be set when extender.tlsPrivateKeyFile is set"}},
      {"client CA without certificate",
       [](Config& c) { c.extender.client_ca_file = "ca.crt"; },
       {"extender.clientCAFile: needs TLS: set extender.tlsCertFile and "
        "extender.tlsPrivateKeyFile too"}},
      {"client CA and key without certificate",
       [](Config& c) {
         c.extender.client_ca_file = "ca.crt";
         c.extender.tls_private_key_file = "tls.key";
       },
       {"extender.tlsCertFile: must be set when extender.tlsPrivateKeyFile is set",
        "extender.clientCAFile: needs TLS: set extender.tlsCertFile and "
        "extender.tlsPrivateKeyFile too"}},
      {"the webhook's certificate does not make the extender TLS",
       [](Config& c) {
         c.webhook.tls_cert_file = "tls.crt";
         c.webhook.tls_private_key_file = "tls.key";
         c.extender.client_ca_file = "ca.crt";
       },
       {"extender.clientCAFile: needs TLS: set extender.tlsCertFile and "
        "extender.tlsPrivateKeyFile too"}},
      {"reload interval set in code",
       [](Config& c) { c.extender.cert_reload_interval = milliseconds(0); },
       {"extender.certReloadInterval: must be between 1s and 1h (got 0s)"}},
      {"health listener", [](Config& c) { c.extender.health_listen = "0.0.0.0:8080"; }, {}},
      {"bad health listener",
       [](Config& c) { c.extender.health_listen = "8080"; },
       {R"(extender.healthListen: invalid address "8080": missing port (expected HOST:PORT))"}},
      {"health listener on the extender's port",
       [](Config& c) { c.extender.health_listen = "127.0.0.1:8888"; },
       {R"(extender.healthListen: must not use the port of extender.listen (both )"
        R"("127.0.0.1:8888" and "0.0.0.0:8888"))"}},
      {"health listener on the webhook's port",
       [](Config& c) { c.extender.health_listen = "0.0.0.0:8443"; },
       {R"(extender.healthListen: must not use the port of webhook.listen (both "0.0.0.0:8443" )"
        R"(and "0.0.0.0:8443"))"}},
      {"debug endpoints behind client certificates",
       [](Config& c) {
         c.extender.debug_endpoints = true;
         c.extender.tls_cert_file = "tls.crt";
         c.extender.tls_private_key_file = "tls.key";
         c.extender.client_ca_file = "ca.crt";
       },
       {}},
      {"debug endpoints on loopback",
       [](Config& c) {
         c.extender.debug_endpoints = true;
         c.extender.listen = "127.0.0.1:8888";
       },
       {}},
      {"debug endpoints on a name that only looks like loopback",
       [](Config& c) {
         c.extender.debug_endpoints = true;
         c.extender.listen = "127.evil.example:8888";
       },
       {"extender.debugEndpoints: needs client certificates (extender.clientCAFile with TLS) or "
        "a loopback extender.listen: the endpoints name every node and pod"}},
      {"debug endpoints open to anyone",
       [](Config& c) { c.extender.debug_endpoints = true; },
       {"extender.debugEndpoints: needs client certificates (extender.clientCAFile with TLS) or "
        "a loopback extender.listen: the endpoints name every node and pod"}},
      {"debug endpoints over TLS that asks no certificate",
       [](Config& c) {
         c.extender.debug_endpoints = true;
         c.extender.tls_cert_file = "tls.crt";
         c.extender.tls_private_key_file = "tls.key";
       },
       {"extender.debugEndpoints: needs client certificates (extender.clientCAFile with TLS) or "
        "a loopback extender.listen: the endpoints name every node and pod"}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Config config;
    c.mutate(config);
    EXPECT_EQ(ValidateConfig(config), c.errors);
  }
}

TEST(ConfigTest, ValidateConfigChecksKubeRules) {
  struct Case {
    const char* name;
    void (*mutate)(Config&);
    std::vector<std::string> errors;
  };
  const Case kCases[] = {
      {"backoff maximum below initial",
       [](Config& c) {
         c.kube.backoff_initial = milliseconds(2000);
         c.kube.backoff_max = milliseconds(1000);
       },
       {"kube.backoffMax: must not be less than kube.backoffInitial (1s < 2s)"}},
      {"equal backoffs are fine",
       [](Config& c) {
         c.kube.backoff_initial = milliseconds(1000);
         c.kube.backoff_max = milliseconds(1000);
       },
       {}},
      {"durations set in code",
       [](Config& c) {
         c.kube.assume_timeout = milliseconds(0);
         c.kube.request_timeout = milliseconds(0);
         c.kube.watch_timeout = milliseconds(0);
       },
       {"kube.assumeTimeout: must be between 1s and 10m (got 0s)",
        "kube.requestTimeout: must be between 1s and 2m (got 0s)",
        "kube.watchTimeout: must be between 10s and 1h (got 0s)"}},
      {"page size set in code",
       [](Config& c) { c.kube.list_page_size = 0; },
       {"kube.listPageSize: must be between 1 and 10000 (got 0)"}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Config config;
    c.mutate(config);
    EXPECT_EQ(ValidateConfig(config), c.errors);
  }
  // The cross-field rule also fails ParseConfig.
  EXPECT_EQ(ErrorLines("kube: {backoffInitial: 1m, backoffMax: 30s}"),
            std::vector<std::string>{
                "kube.backoffMax: must not be less than kube.backoffInitial (30s < 1m)"});
}

TEST(ConfigTest, PriorityClassListReplacesDefaultsOnlyWhenEveryItemDecodes) {
  // One bad item: the error is reported and the defaults stay (so validation adds nothing).
  EXPECT_EQ(ErrorLines("webhook:\n  priorityClasses:\n    - {name: a, value: 1}\n"
                       "    - {name: b, value: x}\n"),
            std::vector<std::string>{"webhook.priorityClasses[1].value: must be an integer"});
  // An empty list decodes and then fails validation.
  EXPECT_EQ(ErrorLines("webhook: {priorityClasses: []}"),
            std::vector<std::string>{"webhook.priorityClasses: must list at least one class"});
}

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& name, const std::string& contents) {
    std::string path = ::testing::TempDir() + "/hyperplace_config_test_" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << contents;
    out.close();
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const std::string& path : paths_) std::remove(path.c_str());
  }

 private:
  std::vector<std::string> paths_;
};

TEST_F(ConfigFileTest, LoadConfigFileParsesTheFile) {
  std::string path = WriteFile("ok.yaml", "extender:\n  server:\n    threads: 3\n");
  StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->extender.server.threads, 3u);
}

TEST_F(ConfigFileTest, LoadConfigFileReportsParseErrors) {
  std::string path = WriteFile("bad.yaml", "log: {lvl: 1}\n");
  StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), "log.lvl: unknown field");
}

TEST_F(ConfigFileTest, MissingFileNamesPathAndReason) {
  std::string path = ::testing::TempDir() + "/hyperplace_config_test_does_not_exist.yaml";
  StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(),
            "cannot open config file \"" + path + "\": No such file or directory");
}

TEST_F(ConfigFileTest, DirectoryIsRejected) {
  StatusOr<Config> config = LoadConfigFile(::testing::TempDir());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("Is a directory"), std::string::npos)
      << config.status().message();
}

TEST_F(ConfigFileTest, FileLargerThanFourMebibytesIsRefused) {
  std::string at_limit = "log: {}\n" + std::string((4u << 20) - 9, ' ') + "\n";
  ASSERT_EQ(at_limit.size(), 4u << 20);
  StatusOr<Config> config = LoadConfigFile(WriteFile("limit.yaml", at_limit));
  EXPECT_TRUE(config.ok()) << config.status().message();

  std::string path = WriteFile("big.yaml", at_limit + " ");
  config = LoadConfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(config.status().message(), "config file \"" + path + "\" is larger than 4MiB");
}

TEST(ConfigTest, AcceleratorResourcesDefaultOverrideAndValidation) {
  Config defaults;
  EXPECT_EQ(defaults.cluster.accelerator_resources,
            (std::vector<std::string>{"nvidia.com/gpu", "aws.amazon.com/neuron",
                                      "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice"}));

  auto parsed = ParseConfig("cluster: {acceleratorResources: [amd.com/gpu, nvidia.com/gpu]}");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->cluster.accelerator_resources,
            (std::vector<std::string>{"amd.com/gpu", "nvidia.com/gpu"}));
  // An empty list turns accelerator packing off: every pod packs by pod slots.
  auto empty = ParseConfig("cluster: {acceleratorResources: []}");
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_TRUE(empty->cluster.accelerator_resources.empty());

  auto bad = ParseConfig(
      "cluster: {acceleratorResources: [cpu, nvidia.com/gpu, nvidia.com/gpu, 'x y/z']}");
  ASSERT_FALSE(bad.ok());
  const std::string& message = bad.status().message();
  EXPECT_NE(message.find("cluster.acceleratorResources[0]: must be an extended resource with a "
                         "domain prefix, like \"nvidia.com/gpu\" (got \"cpu\")"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("cluster.acceleratorResources[2]: duplicate of "
                         "cluster.acceleratorResources[1]"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("cluster.acceleratorResources[3]: invalid key"), std::string::npos)
      << message;
}

TEST(ConfigTest, EnumNames) {
  EXPECT_STREQ(LogLevelName(LogLevel::kDebug), "debug");
  EXPECT_STREQ(LogLevelName(LogLevel::kInfo), "info");
  EXPECT_STREQ(LogLevelName(LogLevel::kWarn), "warn");
  EXPECT_STREQ(LogLevelName(LogLevel::kError), "error");
  EXPECT_STREQ(DensityStrategyName(DensityStrategy::kPack), "pack");
  EXPECT_STREQ(DensityStrategyName(DensityStrategy::kSpread), "spread");
}

}  // namespace
}  // namespace hyperplace
