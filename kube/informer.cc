#include "kube/informer.h"

#include <simdjson.h>

#include "common/log.h"

namespace hyperplace::kube {

namespace od = simdjson::ondemand;

namespace {

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status JsonError(simdjson::error_code e, std::string_view where) {
  return InvalidArgument(std::string(where) + ": " + simdjson::error_message(e));
}

}  // namespace

Status Informer::ParsePage(std::string_view body, Page& page) {
  thread_local od::parser parser;
  page.items.clear();
  page.continue_token.clear();
  page.resource_version.clear();
  od::document doc;
  if (auto e = parser.iterate(body.data(), body.size(), body.size() + simdjson::SIMDJSON_PADDING)
                   .get(doc)) {
    return JsonError(e, "list");
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return JsonError(e, "list");
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return JsonError(e, "list");
    if (key == "metadata") {
      od::object meta;
      if (auto e = field.value().get_object().get(meta)) return JsonError(e, "list.metadata");
      for (auto m : meta) {
        std::string_view mk, value;
        if (auto e = m.unescaped_key().get(mk)) return JsonError(e, "list.metadata");
        if (mk != "continue" && mk != "resourceVersion") continue;
        if (auto e = m.value().get_string().get(value)) return JsonError(e, "list.metadata");
        (mk == "continue" ? page.continue_token : page.resource_version) = std::string(value);
      }
    } else if (key == "items") {
      od::array items;
      if (auto e = field.value().get_array().get(items)) return JsonError(e, "list.items");
      for (auto item : items) {
        od::object o;
        if (auto e = item.get_object().get(o)) return JsonError(e, "list.items[]");
        std::string_view raw;
        if (auto e = o.raw_json().get(raw)) return JsonError(e, "list.items[]");
        page.items.push_back(raw);
      }
    }
  }
  return Status::Ok();
}

Informer::Informer(std::shared_ptr<Client> client, InformerOptions options,
                   InformerHandler* handler, metrics::Registry& registry)
    : client_(std::move(client)),
      options_(std::move(options)),
      handler_(handler),
      backoff_(options_.timing.backoff_initial) {
  relists_ = &registry
                  .AddCounter("hyperplace_kube_relists_total",
                              "Complete lists of a resource (the first, and after 410 Gone).",
                              {"resource"})
                  .With({options_.resource});
  events_ =
      &registry.AddCounter("hyperplace_kube_watch_events_total",
                           "Watch events received, by resource and type.", {"resource", "type"});
  added_ = &events_->With({options_.resource, "ADDED"});
  modified_ = &events_->With({options_.resource, "MODIFIED"});
  deleted_ = &events_->With({options_.resource, "DELETED"});
  bookmarks_ = &events_->With({options_.resource, "BOOKMARK"});
  restarts_ = &registry.AddCounter("hyperplace_kube_watch_restarts_total",
                                   "Watches started again, by resource and reason.",
                                   {"resource", "reason"});
  registry.AddCallbackGauge(
      "hyperplace_kube_watch_idle_seconds_" + options_.resource,
      "Seconds since the last list or watch activity (event or bookmark) for " + options_.resource +
          ".",
      [this] {
        const std::int64_t last = last_activity_ns_.load();
        return last == 0 ? 0.0 : static_cast<double>(NowNs() - last) / 1e9;
      });
}

Informer::~Informer() { Stop(); }

void Informer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  stop_.store(true);
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

std::string Informer::resource_version() const {
  std::lock_guard lock(rv_mu_);
  return rv_;
}

std::string Informer::Query(bool watch) const {
  std::string q;
  auto add = [&q](std::string_view key, std::string_view value) {
    q += q.empty() ? '?' : '&';
    q.append(key).append("=").append(QueryEscape(value));
  };
  if (!options_.field_selector.empty()) add("fieldSelector", options_.field_selector);
  if (!options_.label_selector.empty()) add("labelSelector", options_.label_selector);
  if (watch) {
    add("watch", "1");
    add("allowWatchBookmarks", "true");
    add("resourceVersion", resource_version());
    add("timeoutSeconds", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                             options_.timing.watch_timeout)
                                             .count()));
  } else {
    add("limit", std::to_string(options_.timing.list_page_size));
  }
  return q;
}

Status Informer::List() {
  std::string continue_token;
  std::string body;
  Page page;
  handler_->BeginList();
  do {
    std::string path = options_.path + Query(false);
    if (!continue_token.empty()) path += "&continue=" + QueryEscape(continue_token);
    auto response = client_->Request("GET", path);
    if (!response.ok()) return response.status();
    if (response->status == 410) {
      // The continue token expired mid-list: start the list over.
      return Unavailable("list continue token expired (410)");
    }
    if (response->status != 200) {
      return Unavailable("GET " + options_.path + ": HTTP " + std::to_string(response->status) +
                         ": " + response->body.substr(0, 512));
    }
    body = std::move(response->body);
    const std::size_t size = body.size();
    body.append(simdjson::SIMDJSON_PADDING, '\0');
    if (Status st = ParsePage(std::string_view(body.data(), size), page); !st.ok()) return st;
    handler_->ListItems(page.items);
    continue_token = page.continue_token;
    last_activity_ns_.store(NowNs());
  } while (!continue_token.empty() && !stop_.load());
  if (stop_.load()) return Unavailable("stopped");
  {
    std::lock_guard lock(rv_mu_);
    rv_ = page.resource_version;
  }
  handler_->EndList();
  relists_->Increment();
  return Status::Ok();
}

Status Informer::Watch() {
  WatchDecoder decoder;
  Status failure = Status::Ok();
  bool got_event = false;
  auto on_event = [&](const WatchEvent& event) {
    last_activity_ns_.store(NowNs());
    EventCounter(event.type).Increment();
    if (!event.resource_version.empty()) {
      std::lock_guard lock(rv_mu_);
      rv_ = event.resource_version;
    }
    if (auto change = event.change()) {
      handler_->OnEvent(*change, event.object);
      got_event = true;
    }
  };
  auto on_data = [&](std::string_view data) {
    failure = decoder.Feed(data, on_event);
    if (decoder.gone()) relist_ = true;
    if (got_event) handler_->Flush();
    got_event = false;
    return failure.ok() && !stop_.load();
  };
  std::string error_body;
  // Silence longer than the watch's own timeout plus a minute means the connection is dead.
  const auto idle = options_.timing.watch_timeout + std::chrono::minutes(1);
  auto status = client_->Stream(options_.path + Query(true), idle, on_data, &error_body, &cancel_);
  if (!failure.ok()) return failure;
  if (!status.ok()) return status.status();
  if (*status == 410) {
    relist_ = true;
    return Unavailable("watch: 410 Gone");
  }
  if (*status != 200) {
    return Unavailable("watch " + options_.path + ": HTTP " + std::to_string(*status) + ": " +
                       error_body.substr(0, 512));
  }
  return Status::Ok();
}

void Informer::Backoff() {
  // Full jitter: sleep a random time up to the current backoff, then double it.
  std::uniform_int_distribution<std::int64_t> pick(backoff_.count() / 2, backoff_.count());
  auto wait = std::chrono::milliseconds(pick(rng_));
  backoff_ = std::min(backoff_ * 2, options_.timing.backoff_max);
  const auto until = std::chrono::steady_clock::now() + wait;
  while (!stop_.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

metrics::Counter& Informer::EventCounter(std::string_view type) {
  if (type == "MODIFIED") return *modified_;
  if (type == "ADDED") return *added_;
  if (type == "DELETED") return *deleted_;
  if (type == "BOOKMARK") return *bookmarks_;
  return events_->With({options_.resource, type});
}

void Informer::Run() {
  while (!stop_.load()) {
    if (relist_) {
      Status st = List();
      if (stop_.load()) break;
      if (!st.ok()) {
        HP_LOG(kWarn, "list failed", {{"resource", options_.resource}, {"error", st.message()}});
        restarts_->With({options_.resource, "list_error"}).Increment();
        Backoff();
        continue;
      }
      relist_ = false;
      backoff_ = options_.timing.backoff_initial;
      HP_LOG(kInfo, synced_.exchange(true) ? "relisted" : "informer synced",
             {{"resource", options_.resource}, {"resource_version", resource_version()}});
    }
    Status st = Watch();
    if (stop_.load()) break;
    if (st.ok()) {
      restarts_->With({options_.resource, "timeout"}).Increment();  // server closed it on schedule
      backoff_ = options_.timing.backoff_initial;
      continue;
    }
    if (relist_) {
      HP_LOG(kInfo, "watch expired, relisting", {{"resource", options_.resource}});
      restarts_->With({options_.resource, "expired"}).Increment();
      continue;  // a 410 is answered by relisting at once
    }
    HP_LOG(kWarn, "watch failed", {{"resource", options_.resource}, {"error", st.message()}});
    restarts_->With({options_.resource, "error"}).Increment();
    Backoff();
  }
}

}  // namespace hyperplace::kube
