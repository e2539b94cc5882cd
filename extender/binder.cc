#include "extender/binder.h"

#include <cassert>

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
               std::shared_ptr<const GroupMemo> groups, const Config& config,
               metrics::Registry& registry, std::shared_ptr<BindTracker> binds)
    : client_(std::move(client)),
      state_(std::move(state)),
      groups_(std::move(groups)),
      tracker_(std::move(binds)),
      assume_timeout_(config.kube.assume_timeout),
      bind_timeout_(config.kube.bind_timeout),
      scheduler_names_(config.extender.scheduler_names),
      binds_(registry.AddCounter("hyperplace_extender_binds_total",
                                 "Binds by result (bound, refused by hyperplace: a pod already "
                                 "bound or of another scheduler, rejected by the API server, "
                                 "failed to reach it, bad request).",
                                 {"result"})),
      bound_(binds_.With({"bound"})),
      refused_(binds_.With({"refused"})),
      rejected_(binds_.With({"rejected"})),
      unavailable_(binds_.With({"unavailable"})),
      bad_request_(binds_.With({"bad_request"})) {}

metrics::Counter& Binder::ResultCounter(std::string_view result) const {
  if (result == "refused") return refused_;
  if (result == "rejected") return rejected_;
  if (result == "unavailable") return unavailable_;
  assert(result == "bad_request" && "a bind result without a counter");
  return bad_request_;
}

void Binder::Register(net::HttpServer& server) {
  server.Handle("POST", "/bind",
                [this](const net::Request& req, net::Response& res) { Bind(req.body, res); });
}

StatusOr<Binder::PodView> Binder::ReadPod(std::string_view pod_namespace, std::string_view pod_name,
                                          kube::Deadline deadline) {
  thread_local Decoder decoder;  // not the request's: its views must outlive this call
  const std::string path =
      "/api/v1/namespaces/" + std::string(pod_namespace) + "/pods/" + std::string(pod_name);
  auto response = client_->Request("GET", path, {}, deadline);
  if (!response.ok()) return response.status();
  if (response->status == 404) return Status(StatusCode::kNotFound, "the pod does not exist");
  if (response->status != 200) {
    return Unavailable("GET " + path + ": HTTP " + std::to_string(response->status) + ": " +
                       response->body.substr(0, 512));
  }
  std::string& body = response->body;
  const std::size_t size = body.size();
  body.append(kInputPadding, '\0');
  scoring::Pod pod;
  if (Status st = decoder.DecodePod(std::string_view(body.data(), size), pod); !st.ok()) {
    return Unavailable("GET " + path + ": " + st.message());
  }
  return PodView{std::string(pod.uid), std::string(pod.node_name), std::string(pod.scheduler_name)};
}

std::string Binder::Refusal(std::string_view node, std::string_view scheduler) const {
  if (!node.empty()) return "it is already bound to node " + std::string(node);
  // The API server defaults an empty schedulerName; an old cache entry may lack it.
  if (scheduler.empty()) scheduler = "default-scheduler";
  for (const std::string& served : scheduler_names_) {
    if (served == scheduler) return "";
  }
  std::string names;
  for (const std::string& served : scheduler_names_) names += (names.empty() ? "" : ", ") + served;
  return "its spec.schedulerName \"" + std::string(scheduler) +
         "\" is not a scheduler hyperplace serves (extender.schedulerNames: " + names + ")";
}

void Binder::Bind(std::string_view body, net::Response& response) {
  const auto start = std::chrono::steady_clock::now();
  const kube::Deadline deadline = start + bind_timeout_;
  // The Binding gets three quarters of the time; the rest is for reading the pod back when the
  // Binding's outcome is uncertain.
  const kube::Deadline post_deadline = start + bind_timeout_ * 3 / 4;
  thread_local Decoder decoder;
  BindingArgs args;
  if (Status st = decoder.DecodeBinding(body, args); !st.ok()) {
    bad_request_.Increment();
    response.status = 400;
    EncodeBindingResult(st.message(), response.body);
    return;
  }
  // Names become path segments: refuse anything that is not a valid object name.
  if (!IsDnsSubdomain(args.pod_namespace) || !IsDnsSubdomain(args.pod_name) ||
      !IsDnsSubdomain(args.node)) {
    bad_request_.Increment();
    response.status = 400;
    EncodeBindingResult("request: PodName, PodNamespace and Node must be valid object names",
                        response.body);
    return;
  }
  if (!client_) {
    unavailable_.Increment();
    EncodeBindingResult(
        "hyperplace: no API server configured (--kubeconfig or in-cluster); "
        "cannot bind",
        response.body);
    return;
  }
  const std::string pod_name = std::string(args.pod_namespace) + "/" + std::string(args.pod_name);
  auto fail = [&](std::string_view result, std::string message) {
    ResultCounter(result).Increment();
    HP_LOG(kWarn, "bind failed",
           {{"pod", pod_name}, {"node", args.node}, {"result", result}, {"error", message}});
    EncodeBindingResult("hyperplace: " + message, response.body);
  };

  // May hyperplace bind this pod at all? The watch knows nearly every pod; one it has not shown
  // yet (just created, or the cache is still syncing) is read from the API server.
  std::string refusal;
  std::optional<MemoryState::WatchedPod> watched;
  if (!args.pod_uid.empty()) watched = state_->Watched(args.pod_uid);
  if (watched) {
    refusal = Refusal(watched->node, watched->scheduler_name);
  } else {
    auto pod = ReadPod(args.pod_namespace, args.pod_name, post_deadline);
    if (!pod.ok() && pod.status().code() == StatusCode::kNotFound) {
      refusal = pod.status().message();
    } else if (!pod.ok()) {
      return fail("unavailable", "cannot read pod " + pod_name +
                                     " to check it before binding: " + pod.status().message());
    } else if (!args.pod_uid.empty() && pod->uid != args.pod_uid) {
      refusal = "it is another pod of that name now (uid " + pod->uid + ", not " +
                std::string(args.pod_uid) + ")";
    } else {
      refusal = Refusal(pod->node, pod->scheduler_name);
    }
  }
  if (!refusal.empty()) {
    return fail("refused", "refusing to bind pod " + pod_name + " to node " +
                               std::string(args.node) + ": " + refusal);
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
    if (auto memo = groups_ ? groups_->Recall(args.pod_uid) : std::nullopt) {
      pod.group = std::move(memo->group);
      pod.requests = std::move(memo->requests);
    }
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
  auto withdraw = [&] {
    if (!assume) return;
    state_->ForgetAssumed(args.pod_uid, args.node);
    state_->Publish();
  };
  auto bound = [&](bool confirmed) {
    bound_.Increment();
    if (confirmed) {
      HP_LOG(kInfo, "bind confirmed by reading the pod back",
             {{"pod", pod_name}, {"node", args.node}});
    }
    EncodeBindingResult("", response.body);
  };

  bool resent = false;
  while (true) {
    kube::Outcome out = client_->Send("POST", path, binding, post_deadline);
    if (out.response.ok() && (out.response->status == 200 || out.response->status == 201)) {
      return bound(resent);
    }
    // Uncertain: the Binding may have been applied although no success came back; or a resent
    // one was refused, perhaps because the first arrived after all.
    const bool uncertain =
        out.response.ok() ? resent && out.response->status == 409 : out.maybe_applied;
    std::string error = out.response.ok() ? "the API server refused the binding: HTTP " +
                                                std::to_string(out.response->status) + ": " +
                                                out.response->body.substr(0, 1024)
                                          : out.response.status().message();
    if (!uncertain) {
      withdraw();
      return fail(out.response.ok() ? "rejected" : "unavailable", std::move(error));
    }
    auto pod = ReadPod(args.pod_namespace, args.pod_name, deadline);
    if (!pod.ok()) {
      withdraw();
      return fail("unavailable", error + "; whether the Binding was applied is unknown (reading " +
                                     "the pod back: " + pod.status().message() + ")");
    }
    if (!args.pod_uid.empty() && pod->uid != args.pod_uid) {
      withdraw();
      return fail("rejected", error + "; the pod is another one of that name now");
    }
    if (pod->node == args.node) return bound(true);
    if (!pod->node.empty()) {
      withdraw();
      return fail("rejected", error + "; the pod is bound to node " + pod->node);
    }
    // Not applied: sending it again is safe. Once only, and only with time left for the reply.
    if (resent || std::chrono::steady_clock::now() >= post_deadline) {
      withdraw();
      return fail("unavailable", error + "; the pod is still unbound");
    }
    resent = true;
    HP_LOG(kInfo, "binding not applied, sending it again",
           {{"pod", pod_name}, {"node", args.node}, {"error", error}});
  }
}

}  // namespace hyperplace::extender
