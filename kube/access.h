// How to reach and authenticate to the Kubernetes API server: from a kubeconfig file or from the
// pod's service account (in-cluster).
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "common/status.h"

namespace hyperplace::kube {

struct Access {
  std::string server;           // "https://host:port" (or http:// for tests)
  std::string tls_server_name;  // name to verify the serving certificate against; empty: host
  std::string ca_pem;           // trusted CA bundle; empty: the system's roots
  bool insecure_skip_tls_verify = false;
  std::string token;       // bearer token
  std::string token_file;  // re-read when it changes (projected service-account tokens rotate)
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string origin;  // where this came from, for logs ("kubeconfig FILE context X", "in-cluster")
};

// Reads a kubeconfig (current-context, or `context` when given): cluster server,
// certificate-authority(-data), insecure-skip-tls-verify, tls-server-name; user token,
// tokenFile, client-certificate(-data), client-key(-data). Relative file paths are resolved
// against the kubeconfig's folder, as kubectl does. Auth providers and exec plugins are refused
// with a clear message.
StatusOr<Access> LoadKubeconfig(const std::string& path, const std::string& context = "");

// The in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT and the service account's token and
// CA under `sa_dir` (default /var/run/secrets/kubernetes.io/serviceaccount).
StatusOr<Access> InClusterAccess(
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// The current bearer token: `token`, or the content of `token_file`, re-read when its
// modification time or size changes (checked at most once a second). Thread-safe.
class TokenSource {
 public:
  explicit TokenSource(const Access& access);
  // Empty when the access has neither a token nor a token file.
  StatusOr<std::string> Token();

 private:
  std::mutex mu_;
  std::string token_;
  std::string file_;
  std::chrono::steady_clock::time_point checked_;
  long long mtime_ns_ = -1;
  long long size_ = -1;
};

}  // namespace hyperplace::kube
