#pragma once
// `pgvigil rules`: the rule table as a Prometheus rule file, so teams that
// alert from Prometheus get the same conditions and thresholds as the daemon.
// Targets whose overrides differ from the global ones get their own rules
// (selected by target=~"..."); the global rule excludes them.
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace pgvigil::alerts {

// Rule groups pgvigil.rules and pgvigil.selfmonitoring, as YAML. `source`
// names the configuration in the header comment.
std::string render_prometheus_rules(const config::Config& config, const std::string& source);
// `pgvigil rules --kubernetes NAME`: the same groups inside a Prometheus
// Operator object (apiVersion monitoring.coreos.com/v1, kind PrometheusRule)
// named `name`, labelled app.kubernetes.io/name: pgvigil, the groups under
// spec.groups. `name` must satisfy valid_kubernetes_name().
std::string render_prometheus_rule_object(const config::Config& config, const std::string& source,
                                          const std::string& name);
// A Kubernetes object name (RFC 1123 subdomain): lowercase letters, digits,
// '-' and '.', a letter or digit at both ends, at most 253 characters.
bool valid_kubernetes_name(std::string_view name);
// runbook_url base of the exported rules: [alerting] runbook_base_url, else
// external_url + "/runbooks/", else a template on the scraped pgvigil's
// instance label.
std::string prometheus_runbook_base(const config::Config& config);

// Alert names that exist only in the Prometheus export (Prometheus watching
// pgvigil itself); every other alert comes from rule_table().
inline constexpr std::string_view kNotScrapedAlert = "PgvigilNotScraped";
inline constexpr std::string_view kDiscoveryFailingAlert = "PgvigilDiscoveryFailing";

}  // namespace pgvigil::alerts
