// A generated cluster served by kube::testing::FakeApiServer (real list/watch wire format over
// verified TLS), with a kubeconfig that points hyperplace at it: what names-mode benchmarks need
// to fill hyperplace's watch cache with the same nodes the requests name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench/payload.h"
#include "common/status.h"
#include "kube/testing/fake_apiserver.h"

namespace hyperplace::bench {

struct FakeCluster {
  std::unique_ptr<kube::testing::FakeApiServer> api;
  std::string kubeconfig;  // path of the kubeconfig file written
  int nodes = 0;
  int pods = 0;             // placed pods served
  double fill_seconds = 0;  // generating and loading the objects
};

// Starts a fake API server holding `nodes` and the placed pods of `scheduling`, requiring a bearer
// token, and writes `dir`/kubeconfig (server URL, base64 CA data, the token). History is
// compacted after loading, so the server keeps one copy of each object and watchers start from
// the list.
StatusOr<std::unique_ptr<FakeCluster>> StartFakeCluster(const std::vector<GeneratedNode>& nodes,
                                                        const SchedulingSpec& scheduling,
                                                        const std::string& dir);

// The kubeconfig text for a server URL, CA (PEM) and bearer token.
std::string KubeconfigYaml(const std::string& server, const std::string& ca_pem,
                           const std::string& token);

std::string Base64(const std::string& data);

}  // namespace hyperplace::bench
