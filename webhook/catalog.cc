#include "webhook/catalog.h"

namespace hyperplace::webhook {

StaticCatalog::StaticCatalog(const Config& config) {
  auto objects = std::make_shared<KueueObjects>();
  objects->from_cluster = false;
  objects->priority_classes = config.webhook.priority_classes;
  objects_ = std::move(objects);
}

}  // namespace hyperplace::webhook
