#include "kube/access.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/json.h"

namespace hyperplace::kube {
namespace {

StatusOr<std::string> ReadFile(const std::string& path, std::size_t max_bytes = 1u << 20) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unavailable(path + ": " + std::strerror(errno));
  std::string data;
  data.resize(max_bytes + 1);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (data.size() > max_bytes)
    return OutOfRange(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  return data;
}

// Decodes a kubeconfig *-data field (standard base64).
StatusOr<std::string> Base64Decode(const std::string& in, const std::string& field) {
  std::optional<std::string> out = json::DecodeBase64(in);
  if (!out) return InvalidArgument(field + ": not base64");
  return std::move(*out);
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return base_dir + "/" + path;
}

// Finds the entry named `name` in a kubeconfig list (clusters, users, contexts).
YAML::Node Named(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  }
  return YAML::Node();
}

std::string Str(const YAML::Node& node, const char* key) {
  return node && node[key] && node[key].IsScalar() ? node[key].as<std::string>() : "";
}

}  // namespace

StatusOr<Access> LoadKubeconfig(const std::string& path, const std::string& context_name) {
  auto text = ReadFile(path);
  if (!text.ok())
    return Status(StatusCode::kInvalidArgument, "kubeconfig " + text.status().message());
  const std::string dir =
      path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  try {
    YAML::Node root = YAML::Load(*text);
    std::string ctx_name = context_name.empty() ? Str(root, "current-context") : context_name;
    if (ctx_name.empty()) return InvalidArgument("kubeconfig " + path + ": no current-context");
    YAML::Node ctx = Named(root["contexts"], ctx_name)["context"];
    if (!ctx)
      return InvalidArgument("kubeconfig " + path + ": context \"" + ctx_name + "\" not found");
    const std::string cluster_name = Str(ctx, "cluster");
    const std::string user_name = Str(ctx, "user");
    YAML::Node cluster = Named(root["clusters"], cluster_name)["cluster"];
    if (!cluster) {
      return InvalidArgument("kubeconfig " + path + ": cluster \"" + cluster_name + "\" not found");
    }
    Access a;
    a.origin = "kubeconfig " + path + " context " + ctx_name;
    a.server = Str(cluster, "server");
    if (a.server.rfind("https://", 0) != 0 && a.server.rfind("http://", 0) != 0) {
      return InvalidArgument("kubeconfig " + path + ": cluster \"" + cluster_name +
                             "\" server must be an http(s):// URL (got \"" + a.server + "\")");
    }
    while (!a.server.empty() && a.server.back() == '/') a.server.pop_back();
    a.tls_server_name = Str(cluster, "tls-server-name");
    a.insecure_skip_tls_verify = Str(cluster, "insecure-skip-tls-verify") == "true";
    if (auto data = Str(cluster, "certificate-authority-data"); !data.empty()) {
      auto pem = Base64Decode(data, "certificate-authority-data");
      if (!pem.ok()) return pem.status();
      a.ca_pem = *pem;
    } else if (auto file = Str(cluster, "certificate-authority"); !file.empty()) {
      auto pem = ReadFile(Resolve(dir, file));
      if (!pem.ok())
        return InvalidArgument("kubeconfig certificate-authority: " + pem.status().message());
      a.ca_pem = *pem;
    }
    if (!user_name.empty()) {
      YAML::Node user = Named(root["users"], user_name)["user"];
      if (!user)
        return InvalidArgument("kubeconfig " + path + ": user \"" + user_name + "\" not found");
      if (user["exec"] || user["auth-provider"]) {
        return InvalidArgument("kubeconfig " + path + ": user \"" + user_name +
                               "\" uses exec or auth-provider credentials, which hyperplace does "
                               "not run; use a token, token file or client certificate");
      }
      a.token = Str(user, "token");
      if (auto file = Str(user, "tokenFile"); !file.empty()) a.token_file = Resolve(dir, file);
      if (auto data = Str(user, "client-certificate-data"); !data.empty()) {
        auto pem = Base64Decode(data, "client-certificate-data");
        if (!pem.ok()) return pem.status();
        a.client_cert_pem = *pem;
      } else if (auto file = Str(user, "client-certificate"); !file.empty()) {
        auto pem = ReadFile(Resolve(dir, file));
        if (!pem.ok())
          return InvalidArgument("kubeconfig client-certificate: " + pem.status().message());
        a.client_cert_pem = *pem;
      }
      if (auto data = Str(user, "client-key-data"); !data.empty()) {
        auto pem = Base64Decode(data, "client-key-data");
        if (!pem.ok()) return pem.status();
        a.client_key_pem = *pem;
      } else if (auto file = Str(user, "client-key"); !file.empty()) {
        auto pem = ReadFile(Resolve(dir, file));
        if (!pem.ok()) return InvalidArgument("kubeconfig client-key: " + pem.status().message());
        a.client_key_pem = *pem;
      }
      if (a.client_cert_pem.empty() != a.client_key_pem.empty()) {
        return InvalidArgument("kubeconfig " + path + ": user \"" + user_name +
                               "\" needs both a client certificate and a client key");
      }
    }
    return a;
  } catch (const YAML::Exception& e) {
    return InvalidArgument("kubeconfig " + path + ": " + e.what());
  }
}

StatusOr<Access> InClusterAccess(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return Unavailable(
        "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset");
  }
  Access a;
  a.origin = "in-cluster service account";
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 service IP
  a.server = "https://" + h + ":" + port;
  auto ca = ReadFile(sa_dir + "/ca.crt");
  if (!ca.ok()) return ca.status();
  a.ca_pem = *ca;
  a.token_file = sa_dir + "/token";
  auto token = ReadFile(a.token_file);
  if (!token.ok()) return token.status();
  return a;
}

TokenSource::TokenSource(const Access& access) : token_(access.token), file_(access.token_file) {}

StatusOr<std::string> TokenSource::Token() {
  std::lock_guard lock(mu_);
  if (file_.empty()) return token_;
  const auto now = std::chrono::steady_clock::now();
  if (mtime_ns_ >= 0 && now - checked_ < std::chrono::seconds(1)) return token_;
  checked_ = now;
  struct stat st;
  if (::stat(file_.c_str(), &st) != 0) {
    if (!token_.empty()) return token_;  // keep the last good token through a brief swap
    return Unavailable("token file " + file_ + ": " + std::strerror(errno));
  }
  const long long mtime =
      static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  if (mtime == mtime_ns_ && st.st_size == size_) return token_;
  auto data = ReadFile(file_, 64u << 10);
  if (!data.ok()) return data.status();
  std::string t = *data;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  token_ = std::move(t);
  mtime_ns_ = mtime;
  size_ = st.st_size;
  return token_;
}

}  // namespace hyperplace::kube
