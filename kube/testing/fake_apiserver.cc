#include "kube/testing/fake_apiserver.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace hyperplace::kube::testing {
namespace {

std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string KeyToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

X509* NewCert(EVP_PKEY* key, const char* cn, long serial) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  return cert;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

// The query parameter `key` of a request, or "".
std::string Param(const httplib::Request& req, const std::string& key) {
  return req.has_param(key) ? req.get_param_value(key) : "";
}

}  // namespace

TestPki TestPki::Make() {
  TestPki pki;
  EVP_PKEY* ca_key = EVP_EC_gen("P-256");
  X509* ca = NewCert(ca_key, "hyperplace-test-ca", 1);
  X509_set_issuer_name(ca, X509_get_subject_name(ca));
  AddExtension(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
  X509_sign(ca, ca_key, EVP_sha256());

  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = NewCert(key, "fake-apiserver", 2);
  X509_set_issuer_name(cert, X509_get_subject_name(ca));
  AddExtension(cert, ca, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  AddExtension(cert, ca, NID_ext_key_usage, "serverAuth");
  X509_sign(cert, ca_key, EVP_sha256());

  pki.ca_pem = ToPem(ca);
  pki.cert_pem = ToPem(cert);
  pki.key_pem = KeyToPem(key);
  X509_free(cert);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return pki;
}

FakeApiServer::FakeApiServer() : pki_(TestPki::Make()) {
  char tmpl[] = "/tmp/hyperplace-fake-apiserver-XXXXXX";
  dir_ = mkdtemp(tmpl);
  WriteFile(dir_ + "/tls.crt", pki_.cert_pem);
  WriteFile(dir_ + "/tls.key", pki_.key_pem);
  server_ = std::make_unique<httplib::SSLServer>((dir_ + "/tls.crt").c_str(),
                                                 (dir_ + "/tls.key").c_str());
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(1000);
  // Close idle connections after a second, as real servers do on their own schedule: clients must
  // not trust a pooled connection.
  server_->set_keep_alive_timeout(1);
  Serve();
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("fake apiserver: cannot bind");
  thread_ = new std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  server_->stop();
  thread_->join();
  delete thread_;
  std::remove((dir_ + "/tls.crt").c_str());
  std::remove((dir_ + "/tls.key").c_str());
  rmdir(dir_.c_str());
}

std::string FakeApiServer::url() const { return "https://127.0.0.1:" + std::to_string(port_); }

void FakeApiServer::RequireToken(std::string token) {
  std::lock_guard lock(mu_);
  token_ = std::move(token);
}

std::string FakeApiServer::Render(const std::string& json, long long rv) const {
  std::string out = json;
  const std::string placeholder = "__RV__";
  if (auto at = out.find(placeholder); at != std::string::npos) {
    out.replace(at, placeholder.size(), std::to_string(rv));
  }
  return out;
}

void FakeApiServer::UpsertLocked(const std::string& resource, const std::string& name,
                                 const std::string& json) {
  Resource& r = resources_[resource];
  const long long rv = ++rv_;
  const bool exists = r.objects.count(name) > 0;
  r.objects[name] = {rv, json};
  r.history.push_back({rv, exists ? "MODIFIED" : "ADDED", Render(json, rv)});
}

void FakeApiServer::Upsert(const std::string& resource, const std::string& name,
                           const std::string& json) {
  {
    std::lock_guard lock(mu_);
    UpsertLocked(resource, name, json);
  }
  changed_.notify_all();
}

void FakeApiServer::Delete(const std::string& resource, const std::string& name) {
  {
    std::lock_guard lock(mu_);
    Resource& r = resources_[resource];
    auto it = r.objects.find(name);
    if (it == r.objects.end()) return;
    const long long rv = ++rv_;
    r.history.push_back({rv, "DELETED", Render(it->second.second, rv)});
    r.objects.erase(it);
  }
  changed_.notify_all();
}

void FakeApiServer::Bookmark(const std::string& resource) {
  {
    std::lock_guard lock(mu_);
    Resource& r = resources_[resource];
    const long long rv = ++rv_;
    r.history.push_back({rv, "BOOKMARK",
                         R"({"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":")" +
                             std::to_string(rv) + R"("}})"});
  }
  changed_.notify_all();
}

void FakeApiServer::Compact(const std::string& resource) {
  {
    std::lock_guard lock(mu_);
    Resource& r = resources_[resource];
    r.compacted = rv_;
    r.history.clear();
    ++r.expire_generation;
  }
  changed_.notify_all();
}

void FakeApiServer::CutWatches(const std::string& resource) {
  {
    std::lock_guard lock(mu_);
    ++resources_[resource].cut_generation;
  }
  changed_.notify_all();
}

void FakeApiServer::SetListDelayMs(int ms) {
  std::lock_guard lock(mu_);
  list_delay_ms_ = ms;
}

void FakeApiServer::SetKueueInstalled(bool installed) {
  std::lock_guard lock(mu_);
  kueue_installed_ = installed;
}

void FakeApiServer::SetBindStatus(int status) {
  std::lock_guard lock(mu_);
  bind_status_ = status;
}

void FakeApiServer::SetBindFault(BindFault fault, int times) {
  {
    std::lock_guard lock(mu_);
    bind_fault_ = fault;
    bind_fault_times_ = fault == BindFault::kNone ? 0 : times;
    if (fault == BindFault::kNone) ++bind_fault_clears_;
  }
  changed_.notify_all();
}

int FakeApiServer::pod_reads() const {
  std::lock_guard lock(mu_);
  return pod_reads_;
}

int FakeApiServer::list_requests(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = resources_.find(resource);
  return it == resources_.end() ? 0 : it->second.lists;
}

int FakeApiServer::watch_requests(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = resources_.find(resource);
  return it == resources_.end() ? 0 : it->second.watches;
}

int FakeApiServer::unauthorized_requests() const {
  std::lock_guard lock(mu_);
  return unauthorized_;
}

std::vector<std::string> FakeApiServer::bindings() const {
  std::lock_guard lock(mu_);
  return bindings_;
}

std::string FakeApiServer::last_binding_path() const {
  std::lock_guard lock(mu_);
  return last_binding_path_;
}

void FakeApiServer::Serve() {
  auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    if (token_.empty() || req.get_header_value("Authorization") == "Bearer " + token_) return true;
    ++unauthorized_;
    res.status = 401;
    res.set_content(
        R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})",
        "application/json");
    return false;
  };

  auto collection = [this, authorized](const std::string& resource) {
    return [this, authorized, resource](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      if (Param(req, "watch") == "1" || Param(req, "watch") == "true") {
        long long from = std::atoll(Param(req, "resourceVersion").c_str());
        int cut_generation, expire_generation;
        {
          std::lock_guard lock(mu_);
          Resource& r = resources_[resource];
          ++r.watches;
          cut_generation = r.cut_generation;
          expire_generation = r.expire_generation;
          if (from < r.compacted) {
            res.status = 410;
            res.set_content(
                R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410})",
                "application/json");
            return;
          }
        }
        auto next = std::make_shared<long long>(from);
        res.set_chunked_content_provider("application/json", [this, resource, next, cut_generation,
                                                              expire_generation](
                                                                 std::size_t,
                                                                 httplib::DataSink& sink) {
          std::unique_lock lock(mu_);
          Resource& r = resources_[resource];
          const bool pending = !r.history.empty() && r.history.back().rv > *next;
          if (!pending && r.cut_generation == cut_generation &&
              r.expire_generation == expire_generation) {
            changed_.wait_for(lock, std::chrono::milliseconds(100));
          }
          if (stopping_) return false;
          if (r.cut_generation != cut_generation) return false;  // abrupt close
          if (r.expire_generation != expire_generation) {
            std::string line =
                R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}})"
                "\n";
            lock.unlock();
            sink.write(line.data(), line.size());
            sink.done();
            return true;
          }
          std::string out;
          for (const Event& e : r.history) {
            if (e.rv <= *next) continue;
            out += R"({"type":")" + e.type + R"(","object":)" + e.json + "}\n";
            *next = e.rv;
          }
          lock.unlock();
          if (!out.empty()) {
            // Split the bytes into two writes: events must survive arbitrary chunking.
            const std::size_t half = out.size() / 2;
            if (!sink.write(out.data(), half)) return false;
            if (!sink.write(out.data() + half, out.size() - half)) return false;
          }
          return true;
        });
        return;
      }
      // List, in pages.
      int delay;
      {
        std::lock_guard lock(mu_);
        ++resources_[resource].lists;
        delay = list_delay_ms_;
      }
      if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      std::lock_guard lock(mu_);
      Resource& r = resources_[resource];
      const std::size_t limit =
          req.has_param("limit") ? std::strtoul(Param(req, "limit").c_str(), nullptr, 10) : 0;
      // Continue tokens: "<list rv>/<first name of the next page>"; an rv older than compaction
      // is expired. Pages start by key, so a list of n objects costs O(n log n), not O(n²/limit).
      auto from = r.objects.begin();
      if (req.has_param("continue")) {
        const std::string token = Param(req, "continue");
        const long long token_rv = std::atoll(token.substr(0, token.find('/')).c_str());
        if (token_rv < r.compacted) {
          res.status = 410;
          res.set_content(R"({"kind":"Status","code":410,"reason":"Expired"})", "application/json");
          return;
        }
        from = r.objects.lower_bound(token.substr(token.find('/') + 1));
      }
      std::string body;
      std::string items;
      std::size_t count = 0;
      auto it = from;
      for (; it != r.objects.end() && (limit == 0 || count < limit); ++it, ++count) {
        if (count > 0) items += ',';
        items += Render(it->second.second, it->second.first);
      }
      body = R"({"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":")" +
             std::to_string(rv_) + "\"";
      if (it != r.objects.end()) {
        body += R"(,"continue":")" + std::to_string(rv_) + "/" + it->first + "\"";
      }
      body += R"(},"items":[)";
      body += items;
      body += "]}";
      res.set_content(body, "application/json");
    };
  };
  server_->Get("/api/v1/nodes", collection("nodes"));
  server_->Get("/api/v1/pods", collection("pods"));
  server_->Get("/apis/kueue.x-k8s.io/v1beta2/localqueues", collection("localqueues"));
  server_->Get("/apis/kueue.x-k8s.io/v1beta2/workloadpriorityclasses",
               collection("workloadpriorityclasses"));
  server_->Get("/apis/kueue.x-k8s.io", [this, authorized](const httplib::Request& req,
                                                          httplib::Response& res) {
    if (!authorized(req, res)) return;
    std::lock_guard lock(mu_);
    if (!kueue_installed_) {
      res.status = 404;
      res.set_content(R"({"kind":"Status","code":404,"reason":"NotFound"})", "application/json");
      return;
    }
    res.set_content(
        R"({"kind":"APIGroup","apiVersion":"v1","name":"kueue.x-k8s.io","versions":[{"groupVersion":"kueue.x-k8s.io/v1beta2","version":"v1beta2"},{"groupVersion":"kueue.x-k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"kueue.x-k8s.io/v1beta2","version":"v1beta2"}})",
        "application/json");
  });
  // A failure answered with a metav1.Status, as the API server does.
  auto fail = [](httplib::Response& res, int code, const std::string& reason,
                 const std::string& message) {
    nlohmann::json status = {{"kind", "Status"},   {"apiVersion", "v1"}, {"status", "Failure"},
                             {"message", message}, {"reason", reason},   {"code", code}};
    res.status = code;
    res.set_content(status.dump(), "application/json");
  };
  // The stored pod `name` of namespace `ns`, or null.
  auto find_pod = [this](const std::string& ns, const std::string& name) -> std::string* {
    Resource& pods = resources_["pods"];
    auto it = pods.objects.find(name);
    if (it == pods.objects.end()) return nullptr;
    auto pod = nlohmann::json::parse(it->second.second, nullptr, false);
    if (pod.is_discarded() || pod["metadata"].value("namespace", "") != ns) return nullptr;
    return &it->second.second;
  };
  server_->Get(
      R"(/api/v1/namespaces/([^/]+)/pods/([^/]+))",
      [this, authorized, find_pod, fail](const httplib::Request& req, httplib::Response& res) {
        if (!authorized(req, res)) return;
        std::lock_guard lock(mu_);
        ++pod_reads_;
        const std::string ns = req.matches[1], name = req.matches[2];
        std::string* pod = find_pod(ns, name);
        if (pod == nullptr) {
          fail(res, 404, "NotFound", "pods \"" + name + "\" not found");
          return;
        }
        res.set_content(Render(*pod, resources_["pods"].objects[name].first), "application/json");
      });
  server_->Post(
      R"(/api/v1/namespaces/([^/]+)/pods/([^/]+)/binding)",
      [this, authorized, find_pod, fail](const httplib::Request& req, httplib::Response& res) {
        if (!authorized(req, res)) return;
        std::unique_lock lock(mu_);
        bindings_.push_back(req.body);
        last_binding_path_ = req.path;
        BindFault fault = BindFault::kNone;
        if (bind_fault_times_ > 0) {
          fault = bind_fault_;
          if (--bind_fault_times_ == 0) bind_fault_ = BindFault::kNone;
        }
        // A response that ends early: the headers, then the connection is cut.
        auto cut = [&res] {
          res.set_content_provider(
              64, "application/json",
              [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
        };
        if (fault == BindFault::kStall) {
          const int clears = bind_fault_clears_;
          changed_.wait_for(lock, std::chrono::seconds(30),
                            [&] { return stopping_ || bind_fault_clears_ != clears; });
          return cut();
        }
        if (fault == BindFault::kLoseRequest) return cut();
        if (bind_status_ != 201) {
          fail(res, bind_status_, "Conflict", "pods \"p\" is already assigned to node \"n\"");
          return;
        }
        const std::string ns = req.matches[1], name = req.matches[2];
        const auto binding = nlohmann::json::parse(req.body, nullptr, false);
        if (binding.is_discarded() || !binding.contains("target")) {
          fail(res, 400, "BadRequest", "bad Binding");
          return;
        }
        std::string* stored = find_pod(ns, name);
        if (stored == nullptr) {
          fail(res, 404, "NotFound", "pods \"" + name + "\" not found");
          return;
        }
        auto pod = nlohmann::ordered_json::parse(*stored);
        const std::string uid = binding["metadata"].value("uid", "");
        if (!uid.empty() && uid != pod["metadata"].value("uid", "")) {
          fail(res, 409, "Conflict",
               "Precondition failed: UID in precondition: " + uid +
                   ", UID in object meta: " + pod["metadata"].value("uid", ""));
          return;
        }
        const std::string bound = pod["spec"].value("nodeName", "");
        if (!bound.empty()) {
          fail(res, 409, "Conflict",
               "pod " + name + " is already assigned to node \"" + bound + "\"");
          return;
        }
        pod["spec"]["nodeName"] = binding["target"].value("name", "");
        UpsertLocked("pods", name, pod.dump());
        changed_.notify_all();
        if (fault == BindFault::kLoseResponse) return cut();
        res.status = 201;
        if (fault == BindFault::kTrickle) {
          res.set_chunked_content_provider("application/json", [this](std::size_t offset,
                                                                      httplib::DataSink& sink) {
            std::unique_lock wait(mu_);
            changed_.wait_for(wait, std::chrono::milliseconds(100), [this] { return stopping_; });
            if (stopping_ || offset > 600) return false;
            wait.unlock();
            return sink.write(" ", 1);
          });
          return;
        }
        res.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Success","code":201})",
                        "application/json");
      });
}

}  // namespace hyperplace::kube::testing
