#include "cmd/cli.h"

#include <map>

namespace hyperplace::cli {

std::string Usage() {
  return "usage:\n"
         "  hyperplace serve [--config FILE] [--kubeconfig FILE]\n"
         "                   [--extender-listen HOST:PORT]   (default 0.0.0.0:8888, plain HTTP)\n"
         "                   [--webhook-listen HOST:PORT]    (default 0.0.0.0:8443, HTTPS)\n"
         "                   [--tls-cert-file FILE --tls-private-key-file FILE]   (webhook)\n"
         "                   [--extender-tls-cert-file FILE --extender-tls-private-key-file FILE]\n"
         "                   [--extender-client-ca-file FILE]   (callers need a certificate of "
         "it)\n"
         "                   [--log-level debug|info|warn|error]\n"
         "  hyperplace topology [--config FILE] [--kubeconfig FILE | --from FILE ...]\n"
         "                      [--output text|json|mermaid|html] [--jobs]\n"
         "                   the network tree with capacity and health; --jobs: where every job\n"
         "                   sits; --from: saved `kubectl get nodes,pods -A -o json` output\n"
         "  hyperplace check-config FILE   validate and print the effective configuration\n"
         "  hyperplace version\n";
}

namespace {

// Splits "--flag=value" / "--flag value" at args[i]; advances i past a separate value.
Status FlagValue(const std::vector<std::string>& args, std::size_t& i, std::string& name,
                 std::string& value) {
  name = args[i];
  if (auto eq = name.find('='); eq != std::string::npos) {
    value = name.substr(eq + 1);
    name = name.substr(0, eq);
  } else {
    if (i + 1 >= args.size()) return InvalidArgument(name + " needs a value");
    value = args[++i];
  }
  if (value.empty()) return InvalidArgument(name + " needs a non-empty value");
  return Status::Ok();
}

StatusOr<Command> ParseTopology(const std::vector<std::string>& args) {
  Command cmd;
  cmd.kind = Command::Kind::kTopology;
  TopologyFlags& f = cmd.topology;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--jobs") {
      f.jobs = true;
      continue;
    }
    std::string name, value;
    if (args[i].rfind("--", 0) != 0) {
      return InvalidArgument("topology takes no argument \"" + args[i] + "\"\n" + Usage());
    }
    std::string flag = args[i].substr(0, args[i].find('='));
    if (flag != "--config" && flag != "--kubeconfig" && flag != "--from" && flag != "--output") {
      return InvalidArgument("unknown flag \"" + flag + "\"\n" + Usage());
    }
    if (Status st = FlagValue(args, i, name, value); !st.ok()) return st;
    if (name == "--config") f.config_file = value;
    if (name == "--kubeconfig") f.kubeconfig = value;
    if (name == "--from") f.from.push_back(value);
    if (name == "--output") {
      if (value != "text" && value != "json" && value != "mermaid" && value != "html") {
        return InvalidArgument("--output: must be one of text, json, mermaid, html (got \"" +
                               value + "\")");
      }
      f.output = value;
    }
  }
  if (!f.kubeconfig.empty() && !f.from.empty()) {
    return InvalidArgument("--kubeconfig and --from exclude each other");
  }
  if (f.jobs && f.output == "mermaid") {
    return InvalidArgument(
        "--jobs has no Mermaid form: the chart is the tree (use text, json or html)");
  }
  return cmd;
}

}  // namespace

StatusOr<Command> ParseCommandLine(const std::vector<std::string>& args) {
  Command cmd;
  if (args.empty()) return InvalidArgument("missing command\n" + Usage());
  const std::string& verb = args[0];
  // `hyperplace --help` and `hyperplace topology --help` alike: the usage, not an error.
  for (const std::string& a : args) {
    if (a == "help" || a == "--help" || a == "-h") {
      cmd.kind = Command::Kind::kHelp;
      return cmd;
    }
  }
  if (verb == "version" || verb == "--version") {
    if (args.size() > 1) return InvalidArgument("version takes no arguments");
    cmd.kind = Command::Kind::kVersion;
    return cmd;
  }
  if (verb == "check-config") {
    if (args.size() != 2) return InvalidArgument("check-config takes exactly one FILE");
    cmd.kind = Command::Kind::kCheckConfig;
    cmd.check_config_file = args[1];
    return cmd;
  }
  if (verb == "topology") return ParseTopology(args);
  if (verb != "serve") return InvalidArgument("unknown command \"" + verb + "\"\n" + Usage());

  cmd.kind = Command::Kind::kServe;
  ServeFlags& f = cmd.serve;
  const std::map<std::string, std::string*> flags = {
      {"--config", &f.config_file},
      {"--kubeconfig", &f.kubeconfig},
      {"--extender-listen", &f.extender_listen},
      {"--webhook-listen", &f.webhook_listen},
      {"--tls-cert-file", &f.tls_cert_file},
      {"--tls-private-key-file", &f.tls_private_key_file},
      {"--extender-tls-cert-file", &f.extender_tls_cert_file},
      {"--extender-tls-private-key-file", &f.extender_tls_private_key_file},
      {"--extender-client-ca-file", &f.extender_client_ca_file},
      {"--log-level", &f.log_level},
  };
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto it = flags.find(args[i].substr(0, args[i].find('=')));
    if (it == flags.end()) {
      return InvalidArgument("unknown flag \"" + args[i].substr(0, args[i].find('=')) + "\"\n" +
                             Usage());
    }
    std::string name, value;
    if (Status st = FlagValue(args, i, name, value); !st.ok()) return st;
    *it->second = value;
  }
  if (f.tls_cert_file.empty() != f.tls_private_key_file.empty()) {
    return InvalidArgument("--tls-cert-file and --tls-private-key-file go together");
  }
  if (f.extender_tls_cert_file.empty() != f.extender_tls_private_key_file.empty()) {
    return InvalidArgument(
        "--extender-tls-cert-file and --extender-tls-private-key-file go together");
  }
  return cmd;
}

StatusOr<Config> EffectiveConfig(const ServeFlags& flags) {
  Config config;
  if (!flags.config_file.empty()) {
    auto loaded = LoadConfigFile(flags.config_file);
    if (!loaded.ok()) return loaded.status();
    config = std::move(loaded).value();
  }
  std::vector<std::string> errors;
  if (!flags.extender_listen.empty()) {
    if (auto hp = ParseHostPort(flags.extender_listen); hp.ok()) {
      config.extender.listen = flags.extender_listen;
    } else {
      errors.push_back("--extender-listen: " + hp.status().message());
    }
  }
  if (!flags.webhook_listen.empty()) {
    if (auto hp = ParseHostPort(flags.webhook_listen); hp.ok()) {
      config.webhook.listen = flags.webhook_listen;
    } else {
      errors.push_back("--webhook-listen: " + hp.status().message());
    }
  }
  if (!flags.tls_cert_file.empty()) {
    config.webhook.tls_cert_file = flags.tls_cert_file;
    config.webhook.tls_private_key_file = flags.tls_private_key_file;
  }
  if (!flags.extender_tls_cert_file.empty()) {
    config.extender.tls_cert_file = flags.extender_tls_cert_file;
    config.extender.tls_private_key_file = flags.extender_tls_private_key_file;
  }
  // Alone, it adds client authentication to a certificate from the file (validated below).
  if (!flags.extender_client_ca_file.empty()) {
    config.extender.client_ca_file = flags.extender_client_ca_file;
  }
  if (!flags.log_level.empty()) {
    static const std::map<std::string, LogLevel> kLevels = {{"debug", LogLevel::kDebug},
                                                            {"info", LogLevel::kInfo},
                                                            {"warn", LogLevel::kWarn},
                                                            {"error", LogLevel::kError}};
    auto it = kLevels.find(flags.log_level);
    if (it == kLevels.end()) {
      errors.push_back("--log-level: must be one of debug, info, warn, error (got \"" +
                       flags.log_level + "\")");
    } else {
      config.log.level = it->second;
    }
  }
  for (std::string& e : ValidateConfig(config)) errors.push_back(std::move(e));
  if (!errors.empty()) {
    std::string message;
    for (const std::string& e : errors) message.append(message.empty() ? "" : "\n").append(e);
    return InvalidArgument(message);
  }
  return config;
}

}  // namespace hyperplace::cli
