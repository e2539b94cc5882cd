#include "cmd/topology.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "extender/policy.h"
#include "inspect/source.h"
#include "kube/access.h"

#ifndef HYPERPLACE_VERSION
#define HYPERPLACE_VERSION "dev"
#endif

namespace hyperplace::cli {
namespace {

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return Unavailable(path + ": read error");
  return s.str();
}

StatusOr<std::shared_ptr<kube::Client>> Connect(const std::string& kubeconfig) {
  StatusOr<kube::Access> access = Unavailable("");
  if (!kubeconfig.empty()) {
    access = kube::LoadKubeconfig(kubeconfig);
  } else if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
    access = kube::InClusterAccess();
  } else {
    return InvalidArgument("no cluster: give --kubeconfig FILE, or --from FILE, or run in a pod");
  }
  if (!access.ok()) return access.status();
  kube::ClientOptions options;
  options.user_agent = std::string("hyperplace-topology/") + HYPERPLACE_VERSION;
  return kube::Client::Create(*access, options);
}

}  // namespace

StatusOr<inspect::View> LiveView(kube::Client& client, const Config& config,
                                 const extender::FilterVerdicts* verdicts) {
  inspect::ClusterInput input;
  if (Status st = inspect::ListCluster(client, static_cast<int>(config.kube.list_page_size), input);
      !st.ok()) {
    return st;
  }
  for (inspect::PodInput& p : input.pods) {
    if (verdicts == nullptr || !p.pod.node_name.empty()) continue;
    if (auto verdict = verdicts->Find(p.pod.uid)) p.pending_reason = *verdict;
  }
  return inspect::BuildView(input, extender::MakePolicy(config));
}

StatusOr<std::string> RunTopology(const TopologyFlags& flags) {
  Config config;
  if (!flags.config_file.empty()) {
    auto loaded = LoadConfigFile(flags.config_file);
    if (!loaded.ok()) return loaded.status();
    config = std::move(loaded).value();
  }
  StatusOr<inspect::View> view = Unavailable("no cluster");
  if (!flags.from.empty()) {
    inspect::ClusterInput input;
    for (const std::string& path : flags.from) {
      StatusOr<std::string> text = ReadFile(path);
      if (!text.ok()) return text.status();
      if (Status st = inspect::AddList(*text, input); !st.ok()) {
        return InvalidArgument(path + ": " + st.message());
      }
    }
    view = inspect::BuildView(input, extender::MakePolicy(config));
  } else {
    auto client = Connect(flags.kubeconfig);
    if (!client.ok()) return client.status();
    view = LiveView(**client, config);
    (*client)->CancelAll();
  }
  if (!view.ok()) return view.status();
  inspect::RenderOptions options;
  options.jobs = flags.jobs;
  if (flags.output == "json") return inspect::RenderJson(*view, options);
  if (flags.output == "mermaid") return inspect::RenderMermaid(*view, options);
  if (flags.output == "html") return inspect::RenderHtml(*view, options);
  return inspect::RenderText(*view, options);
}

int Topology(const TopologyFlags& flags) {
  StatusOr<std::string> out = RunTopology(flags);
  if (!out.ok()) {
    std::fprintf(stderr, "hyperplace topology: %s\n", out.status().message().c_str());
    return 1;
  }
  std::fwrite(out->data(), 1, out->size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace hyperplace::cli
