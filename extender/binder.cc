#include "extender/binder.h"

#include "common/log.h"
#include "extender/codec.h"

namespace hyperplace::extender {

bool IsDnsSubdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum) continue;
    if ((c == '-' || c == '.') && i > 0 && i + 1 < name.size()) continue;
    return false;
  }
  return true;
}

Binder::Binder(std::shared_ptr<kube::Client> client, std::shared_ptr<MemoryState> state,
               std::shared_ptr<const GroupMemo> groups, const KubeConfig& config,
               metrics::Registry& registry, std::shared_ptr<BindTracker> binds)
    : client_(std::move(client)),
      state_(std::move(state)),
      groups_(std::move(groups)),
      tracker_(std::move(binds)),
      assume_timeout_(config.assume_timeout),
      binds_(registry.AddCounter("hyperplace_extender_binds_total",
                                 "Binds by result (bound, rejected by the API server, failed to "
                                 "reach it, bad request).",
                                 {"result"})) {}

void Binder::Register(net::HttpServer& server) {
  server.Handle("POST", "/bind",
                [this](const net::Request& req, net::Response& res) { Bind(req.body, res); });
}

void Binder::Bind(std::string_view body, net::Response& response) {
  thread_local Decoder decoder;
  BindingArgs args;
  if (Status st = decoder.DecodeBinding(body, args); !st.ok()) {
    binds_.With({"bad_request"}).Inc();
    response.status = 400;
    EncodeBindingResult(st.message(), response.body);
    return;
  }
  // Names become path segments: refuse anything that is not a valid object name.
  if (!IsDnsSubdomain(args.pod_namespace) || !IsDnsSubdomain(args.pod_name) ||
      !IsDnsSubdomain(args.node)) {
    binds_.With({"bad_request"}).Inc();
    response.status = 400;
    EncodeBindingResult("request: PodName, PodNamespace and Node must be valid object names",
                        response.body);
    return;
  }
  if (!client_) {
    binds_.With({"unavailable"}).Inc();
    EncodeBindingResult(
        "hyperplace: no API server configured (--kubeconfig or in-cluster); "
        "cannot bind",
        response.body);
    return;
  }
  // Count the pod on its node now: the next /filter may already be waiting for it. The group is
  // the one the pod watch knows (pending pods included), so a bind whose /filter another replica
  // served lands in its gang; the memo of filter requests covers a pod created so recently that
  // the watch has not shown it yet.
  const bool assume = !args.pod_uid.empty();
  if (assume) {
    PodRecord pod;
    pod.uid = std::string(args.pod_uid);
    pod.node = std::string(args.node);
    if (auto group = groups_ ? groups_->Find(args.pod_uid) : std::nullopt) pod.group = *group;
    state_->AssumePod(std::move(pod), MemoryState::Clock::now() + assume_timeout_);
    state_->Publish();
  }
  if (tracker_) tracker_->BindArrived(args.pod_uid);

  std::string binding;
  binding += R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":)";
  AppendJsonString(binding, args.pod_name);
  binding += R"(,"namespace":)";
  AppendJsonString(binding, args.pod_namespace);
  if (!args.pod_uid.empty()) {
    binding += R"(,"uid":)";
    AppendJsonString(binding, args.pod_uid);
  }
  binding += R"(},"target":{"apiVersion":"v1","kind":"Node","name":)";
  AppendJsonString(binding, args.node);
  binding += "}}";
  const std::string path = "/api/v1/namespaces/" + std::string(args.pod_namespace) + "/pods/" +
                           std::string(args.pod_name) + "/binding";
  const std::string pod_name = std::string(args.pod_namespace) + "/" + std::string(args.pod_name);
  auto withdraw = [&] {
    if (!assume) return;
    state_->ForgetAssumed(args.pod_uid, args.node);
    state_->Publish();
  };
  auto result = client_->Request("POST", path, binding);
  if (!result.ok()) {
    withdraw();
    binds_.With({"unavailable"}).Inc();
    HP_LOG(kWarn, "bind failed",
           {{"pod", pod_name}, {"node", args.node}, {"error", result.status().message()}});
    EncodeBindingResult("hyperplace: " + result.status().message(), response.body);
    return;
  }
  if (result->status != 200 && result->status != 201) {
    withdraw();
    binds_.With({"rejected"}).Inc();
    std::string message = "hyperplace: the API server refused the binding: HTTP " +
                          std::to_string(result->status) + ": " + result->body.substr(0, 1024);
    HP_LOG(kInfo, "bind refused",
           {{"pod", pod_name}, {"node", args.node}, {"status", result->status}});
    EncodeBindingResult(message, response.body);
    return;
  }
  binds_.With({"bound"}).Inc();
  EncodeBindingResult("", response.body);
}

}  // namespace hyperplace::extender
