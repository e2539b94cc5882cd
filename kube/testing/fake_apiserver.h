// A fake Kubernetes API server for tests, speaking the real wire format of what hyperplace uses:
// paged lists (limit/continue, metadata.resourceVersion), watches as chunked newline-delimited
// events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR 410 after compaction), reads of one pod,
// pods/binding as the real one applies it (spec.nodeName set, a MODIFIED event; 404 for a pod it
// does not have, 409 for one already bound or of another uid), bearer tokens. It serves HTTPS
// with a certificate from its own CA (SAN IP:127.0.0.1), so clients verify it for real. It can
// misbehave on demand: cut watch connections, expire resource versions, delay lists, refuse,
// stall or lose bindings.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace hyperplace::kube::testing {

// A CA and a serving certificate for 127.0.0.1/localhost, as PEM.
struct TestPki {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  static TestPki Make();
};

// How the next Bindings misbehave (FakeApiServer::SetBindFault).
enum class BindFault {
  kNone,
  kStall,         // not applied, never answered (until the fault is cleared or the server stops)
  kTrickle,       // applied, then answered one byte every 100 ms: slower than any deadline
  kLoseResponse,  // applied, then the connection is cut before the response is complete
  kLoseRequest,   // not applied, and the connection is cut before a complete response
};

class FakeApiServer {
 public:
  FakeApiServer();
  ~FakeApiServer();

  std::string url() const;  // https://127.0.0.1:PORT
  const TestPki& pki() const { return pki_; }
  // Requests without "Authorization: Bearer <token>" get 401.
  void RequireToken(std::string token);

  // Adds or replaces an object of a resource ("nodes", "pods"). `json` is the object with the
  // literal placeholder "__RV__" where its resourceVersion goes; watchers get ADDED or MODIFIED.
  void Upsert(const std::string& resource, const std::string& name, const std::string& json);
  void Delete(const std::string& resource, const std::string& name);
  void Bookmark(const std::string& resource);
  // Compacts history: open watches get an ERROR 410 event, and any watch or list continue from an
  // older resourceVersion gets 410 Gone.
  void Compact(const std::string& resource);
  // Closes every open watch connection of the resource abruptly (no final chunk).
  void CutWatches(const std::string& resource);
  void SetListDelayMs(int ms);
  // Whether /apis/kueue.x-k8s.io answers (with v1beta2) or 404s. Kueue's collections
  // ("localqueues", "workloadpriorityclasses") are served either way.
  void SetKueueInstalled(bool installed);
  // Answers every Binding with `status` (and a Status body) without applying it; 201 (the
  // default) applies Bindings as the real API server does.
  void SetBindStatus(int status);
  // The next `times` Bindings misbehave as `fault` says; kNone clears it (and ends stalls).
  void SetBindFault(BindFault fault, int times = 1);

  int list_requests(const std::string& resource) const;
  int watch_requests(const std::string& resource) const;
  int unauthorized_requests() const;
  std::vector<std::string> bindings() const;  // request bodies received on pods/binding
  std::string last_binding_path() const;
  int pod_reads() const;  // GETs of one pod (/api/v1/namespaces/NS/pods/NAME)

 private:
  struct Event {
    long long rv;
    std::string type;
    std::string json;
  };
  struct Resource {
    std::map<std::string, std::pair<long long, std::string>> objects;  // name -> rv, json
    std::vector<Event> history;
    long long compacted = 0;
    int lists = 0;
    int watches = 0;
    int cut_generation = 0;
    int expire_generation = 0;
  };
  std::string Render(const std::string& json, long long rv) const;
  void Serve();
  // Adds or replaces an object and records its event; mu_ held.
  void UpsertLocked(const std::string& resource, const std::string& name, const std::string& json);

  TestPki pki_;
  std::string dir_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread* thread_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Resource> resources_;
  long long rv_ = 100;
  std::string token_;
  int list_delay_ms_ = 0;
  int bind_status_ = 201;
  BindFault bind_fault_ = BindFault::kNone;
  int bind_fault_times_ = 0;
  int bind_fault_clears_ = 0;  // SetBindFault(kNone) calls: ends stalls
  int pod_reads_ = 0;
  int unauthorized_ = 0;
  bool kueue_installed_ = true;
  std::vector<std::string> bindings_;
  std::string last_binding_path_;
  bool stopping_ = false;
};

}  // namespace hyperplace::kube::testing
