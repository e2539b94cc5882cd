#include "bench/fake_cluster.h"

#include <openssl/evp.h>

#include <chrono>
#include <fstream>

namespace hyperplace::bench {
namespace {

constexpr const char* kToken = "hpbench-token";

// The generator writes a literal resourceVersion; the fake server stamps its own through the
// "__RV__" placeholder, so list and watch agree.
std::string WithRvPlaceholder(const std::string& json) {
  const std::string key = R"("resourceVersion":")";
  const std::size_t at = json.find(key);
  if (at == std::string::npos) return json;
  const std::size_t start = at + key.size();
  const std::size_t end = json.find('"', start);
  std::string out = json;
  out.replace(start, end - start, "__RV__");
  return out;
}

}  // namespace

std::string Base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string KubeconfigYaml(const std::string& server, const std::string& ca_pem,
                           const std::string& token) {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "clusters:\n"
         "- name: hpbench\n"
         "  cluster:\n"
         "    server: " +
         server +
         "\n"
         "    certificate-authority-data: " +
         Base64(ca_pem) +
         "\n"
         "users:\n"
         "- name: hpbench\n"
         "  user:\n"
         "    token: " +
         token +
         "\n"
         "contexts:\n"
         "- name: hpbench\n"
         "  context:\n"
         "    cluster: hpbench\n"
         "    user: hpbench\n"
         "current-context: hpbench\n";
}

StatusOr<std::unique_ptr<FakeCluster>> StartFakeCluster(const std::vector<GeneratedNode>& nodes,
                                                        const SchedulingSpec& scheduling,
                                                        const std::string& dir) {
  const auto started = std::chrono::steady_clock::now();
  auto cluster = std::make_unique<FakeCluster>();
  try {
    cluster->api = std::make_unique<kube::testing::FakeApiServer>();
  } catch (const std::exception& e) {
    return Unavailable(std::string("fake API server: ") + e.what());
  }
  cluster->api->RequireToken(kToken);
  for (const GeneratedNode& n : nodes) {
    cluster->api->Upsert("nodes", n.name, WithRvPlaceholder(n.json));
  }
  cluster->api->Compact("nodes");
  int since_compact = 0;
  cluster->pods = ForEachPlacedPod(scheduling, nodes, [&](const PlacedPod& pod) {
    cluster->api->Upsert("pods", pod.namespace_name + "/" + pod.name, pod.json);
    // The fake keeps every event in its history; compact as we go so 150,000 pods are held once.
    if (++since_compact == 10000) {
      cluster->api->Compact("pods");
      since_compact = 0;
    }
  });
  cluster->api->Compact("pods");
  cluster->nodes = static_cast<int>(nodes.size());

  cluster->kubeconfig = dir + "/kubeconfig";
  std::ofstream out(cluster->kubeconfig);
  out << KubeconfigYaml(cluster->api->url(), cluster->api->pki().ca_pem, kToken);
  out.close();
  if (!out) return Unavailable("cannot write " + cluster->kubeconfig);
  cluster->fill_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return cluster;
}

}  // namespace hyperplace::bench
