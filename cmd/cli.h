// The command line (DESIGN §4). Names are stable: manifests, tests and the bench harness use them.
//
//   hyperplace serve [--config FILE] [--kubeconfig FILE] [--extender-listen HOST:PORT]
//                    [--webhook-listen HOST:PORT] [--tls-cert-file FILE --tls-private-key-file
//                    FILE]
//                    [--extender-tls-cert-file FILE --extender-tls-private-key-file FILE]
//                    [--extender-client-ca-file FILE]
//                    [--log-level debug|info|warn|error]
//   hyperplace topology [--config FILE] [--kubeconfig FILE | --from FILE...]
//                       [--output text|json|mermaid|html] [--jobs]
//   hyperplace check-config FILE
//   hyperplace version
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace hyperplace::cli {

struct ServeFlags {
  std::string config_file;
  std::string kubeconfig;
  std::string extender_listen;
  std::string webhook_listen;
  std::string tls_cert_file;
  std::string tls_private_key_file;
  std::string extender_tls_cert_file;
  std::string extender_tls_private_key_file;
  std::string extender_client_ca_file;
  std::string log_level;
};

// `hyperplace topology`: the network tree (and with --jobs where every job sits), from the API
// server (--kubeconfig, else in-cluster) or from saved lists (--from, repeatable).
struct TopologyFlags {
  std::string config_file;
  std::string kubeconfig;
  std::vector<std::string> from;
  std::string output = "text";  // text, json, mermaid, html
  bool jobs = false;
};

struct Command {
  enum class Kind { kServe, kTopology, kCheckConfig, kVersion, kHelp };
  Kind kind = Kind::kHelp;
  ServeFlags serve;
  TopologyFlags topology;
  std::string check_config_file;
};

// Parses argv (without argv[0]). Accepts "--flag value" and "--flag=value".
StatusOr<Command> ParseCommandLine(const std::vector<std::string>& args);

// The configuration `serve` runs with: the file (or the embedded defaults), then the flags over
// it, validated. Errors list every problem, one per line.
StatusOr<Config> EffectiveConfig(const ServeFlags& flags);

std::string Usage();

}  // namespace hyperplace::cli
