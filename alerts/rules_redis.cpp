// Redis targets (kind = "redis"): down with its reason, memory against
// maxmemory, refused clients, evictions, the hit ratio collapsing,
// persistence failing, a replica's link
// (alerts/tests/redis.yml). Thresholds and their reasons: docs/redis.md.
#include "alerts/rule_groups.hpp"
#include "alerts/rule_helpers.hpp"

namespace pgvigil::alerts::detail {

using namespace std::chrono_literals;

namespace {

std::optional<double> single(const RuleContext& ctx, std::string_view metric) {
  const auto series = ctx.source.samples(ctx.target.name, metric);
  if (series.size() != 1 || !std::isfinite(series.front().second)) return std::nullopt;
  return series.front().second;
}

}  // namespace

std::vector<RuleDefinition> redis_rules() {
  std::vector<RuleDefinition> rules;

  rules.push_back({
      .name = "RedisDown",
      .severity = "critical",
      .default_for = 30s,
      .summary = "Redis {{ $labels.target }} is down ({{ $labels.reason }})",
      .description = "pgvigil cannot connect to the Redis server {{ $labels.target }}, "
                     "authenticate and get PING and INFO answered within the timeout; the round "
                     "fails with reason {{ $labels.reason }}.",
      .condition = "redis_up == 0, with the classified failure (redis_connection_failure)",
      .rule_labels = "reason",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            for (const auto& [labels, value] : ctx.source.samples(ctx.target.name, "redis_up")) {
              if (value != 0) continue;
              Finding finding;
              auto reason = current_state(ctx, "redis_connection_failure", "reason");
              if (reason && *reason != "none") finding.labels.emplace_back("reason", *reason);
              finding.evidence =
                  "reason: " + reason.value_or(ctx.target.reason) +
                  "\nlast error: " + (ctx.target.last_error.empty() ? "-" : ctx.target.last_error) +
                  "\n";
              out.push_back(std::move(finding));
            }
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const auto down = "(" + p.select("redis_up") + " == 0)";
            return std::vector<PromAlert>{
                {.expr = down + " * ignoring(reason) group_left(reason) (" +
                         p.select("redis_connection_failure", "reason!=\"none\"") +
                         " == 1) or ignoring(reason) " + down}};
          },
  });

  rules.push_back({
      .name = "RedisMemoryNearMax",
      .severity = "warning",
      .default_for = 5min,
      .thresholds = {{.key = "threshold",
                      .default_value = 0.9,
                      .unit = Unit::ratio,
                      .meaning = "used_memory as a share of maxmemory (servers with a maxmemory)"}},
      .summary = "Redis {{ $labels.target }} uses {{ $value | humanizePercentage }} of maxmemory",
      .description = "Redis {{ $labels.target }} uses more than ${threshold} of its maxmemory: at "
                     "the limit it evicts keys (an eviction policy) or refuses writes "
                     "(noeviction, OOM command not allowed).",
      .condition = "redis_memory_used_bytes / redis_memory_max_bytes > threshold, maxmemory > 0",
      .rule_labels = "-",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            const auto used = single(ctx, "redis_memory_used_bytes");
            const auto max = single(ctx, "redis_memory_max_bytes");
            if (!used || !max || *max <= 0) return out;
            const double ratio = *used / *max;
            if (ratio <= ctx.params.get("threshold")) return out;
            Finding finding;
            finding.value = ratio;
            finding.evidence =
                "used_memory: " + number(*used) + " bytes\nmaxmemory: " + number(*max) + " bytes\n";
            out.push_back(std::move(finding));
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{{.expr = "(" + p.select("redis_memory_used_bytes") +
                                                   " / (" + p.select("redis_memory_max_bytes") +
                                                   " > 0)) > " +
                                                   number(p.params.get("threshold"))}};
          },
  });

  rules.push_back({
      .name = "RedisRejectingConnections",
      .severity = "warning",
      .default_for = 0s,
      .thresholds = {{.key = "window",
                      .default_value = 300,
                      .unit = Unit::seconds,
                      .meaning = "how long the alert stays after the last refused connection"}},
      .summary = "Redis {{ $labels.target }} refuses client connections (maxclients)",
      .description = "Redis {{ $labels.target }} refused connections within the last ${window} "
                     "because maxclients was reached: clients see \"ERR max number of clients "
                     "reached\".",
      .condition = "redis_rejected_connections_total rose within window",
      .rule_labels = "-",
      .evaluate = eval_rose("redis_rejected_connections_total"),
      .prometheus = prom_rose("redis_rejected_connections_total"),
  });

  rules.push_back({
      .name = "RedisEvicting",
      .severity = "warning",
      .default_for = 5min,
      .thresholds = {{.key = "rate",
                      .default_value = 10,
                      .unit = Unit::count,
                      .meaning = "keys evicted per second"},
                     {.key = "window",
                      .default_value = 300,
                      .unit = Unit::seconds,
                      .meaning = "the range the eviction rate is taken over"}},
      .summary = "Redis {{ $labels.target }} evicts {{ $value | humanize }} keys/s",
      .description =
          "Redis {{ $labels.target }} has been evicting more than ${rate} keys per second (over "
          "${window}): it is full at maxmemory and its eviction policy drops keys the "
          "application may still need, so reads miss and fall through to the database.",
      .condition = "rate(redis_evicted_keys_total[window]) > rate",
      .rule_labels = "-",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            const auto evicted = single(ctx, "redis_evicted_keys_total");
            if (!evicted) return out;
            const auto rate = rate_over(ctx, "evicted", *evicted, ctx.params.get("window"));
            if (!rate || *rate <= ctx.params.get("rate")) return out;
            Finding finding;
            finding.value = *rate;
            finding.evidence = "evicted keys: " + number(*rate) + "/s over the last " +
                               format_threshold(ctx.params.get("window"), Unit::seconds) +
                               "\nevicted since start: " + number(*evicted) + "\n";
            if (auto used = single(ctx, "redis_memory_used_bytes"))
              finding.evidence += "used_memory: " + number(*used) + " bytes\n";
            if (auto max = single(ctx, "redis_memory_max_bytes"))
              finding.evidence += "maxmemory: " + number(*max) + " bytes\n";
            out.push_back(std::move(finding));
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            return std::vector<PromAlert>{{.expr = rate_expr(p, "redis_evicted_keys_total") +
                                                   " > " + number(p.params.get("rate"))}};
          },
  });

  rules.push_back({
      .name = "RedisHitRatioLow",
      .severity = "warning",
      .default_for = 5min,
      .thresholds = {{.key = "threshold",
                      .default_value = 0.5,
                      .unit = Unit::ratio,
                      .meaning = "keyspace hits as a share of lookups, below which it fires"},
                     {.key = "min_lookups",
                      .default_value = 10,
                      .unit = Unit::count,
                      .meaning = "lookups per second below which the ratio is not judged"},
                     {.key = "window",
                      .default_value = 300,
                      .unit = Unit::seconds,
                      .meaning = "the range hits and misses are taken over"}},
      .summary = "Redis {{ $labels.target }} hit ratio is {{ $value | humanizePercentage }}",
      .description =
          "Fewer than ${threshold} of the key lookups on Redis {{ $labels.target }} hit (over "
          "${window}, at more than ${min_lookups} lookups/s): the cache stopped absorbing reads "
          "(flushed, restarted empty, evicting, or keys renamed by a deploy), and the misses "
          "land on PostgreSQL as a stampede.",
      .condition = "hits / (hits + misses) < threshold over window, lookups/s > min_lookups",
      .rule_labels = "-",
      .evaluate =
          [](const RuleContext& ctx) {
            Findings out;
            const auto hits = single(ctx, "redis_keyspace_hits_total");
            const auto misses = single(ctx, "redis_keyspace_misses_total");
            if (!hits || !misses) return out;
            const double window = ctx.params.get("window");
            // Both histories are kept every evaluation, so both rates cover the same span.
            const auto hit_rate = rate_over(ctx, "hits", *hits, window);
            const auto miss_rate = rate_over(ctx, "misses", *misses, window);
            if (!hit_rate || !miss_rate) return out;
            const double lookups = *hit_rate + *miss_rate;
            if (!(lookups > ctx.params.get("min_lookups"))) return out;
            const double ratio = *hit_rate / lookups;
            if (ratio >= ctx.params.get("threshold")) return out;
            Finding finding;
            finding.value = ratio;
            finding.evidence = "hits: " + number(*hit_rate) + "/s\nmisses: " + number(*miss_rate) +
                               "/s\nover the last " + format_threshold(window, Unit::seconds) +
                               "\n";
            if (auto evicted = single(ctx, "redis_evicted_keys_total"))
              finding.evidence += "evicted since start: " + number(*evicted) + "\n";
            if (auto uptime = single(ctx, "redis_uptime_in_seconds"))
              finding.evidence += "uptime: " + number(*uptime) + " s\n";
            out.push_back(std::move(finding));
            return out;
          },
      .prometheus =
          [](const PromContext& p) {
            const auto hits = rate_expr(p, "redis_keyspace_hits_total");
            const auto lookups =
                "(" + hits + " + " + rate_expr(p, "redis_keyspace_misses_total") + ")";
            return std::vector<PromAlert>{
                {.expr = "(" + hits + " / " + lookups + " < " + number(p.params.get("threshold")) +
                         ") and " + lookups + " > " + number(p.params.get("min_lookups"))}};
          },
  });

  rules.push_back({
      .name = "RedisRdbBgsaveFailing",
      .severity = "critical",
      .default_for = 1min,
      .summary = "Redis {{ $labels.target }} cannot write its RDB snapshot",
      .description =
          "The last BGSAVE of Redis {{ $labels.target }} failed: no new snapshot is on disk, and "
          "with stop-writes-on-bgsave-error (the default) the server refuses writes (MISCONF).",
      .condition = "redis_rdb_last_bgsave_status == 0",
      .rule_labels = "-",
      .evaluate = eval_equals("redis_rdb_last_bgsave_status", 0),
      .prometheus = prom_equals("redis_rdb_last_bgsave_status", 0),
  });

  rules.push_back({
      .name = "RedisAofWriteFailing",
      .severity = "critical",
      .default_for = 1min,
      .summary = "Redis {{ $labels.target }} cannot write its append-only file",
      .description = "The last write to the AOF of Redis {{ $labels.target }} failed: writes are "
                     "refused (MISCONF) until a write succeeds, and acknowledged data may be "
                     "lost on a crash.",
      .condition = "redis_aof_last_write_status == 0",
      .rule_labels = "-",
      .evaluate = eval_equals("redis_aof_last_write_status", 0),
      .prometheus = prom_equals("redis_aof_last_write_status", 0),
  });

  rules.push_back({
      .name = "RedisReplicaLinkDown",
      .severity = "critical",
      .default_for = 1min,
      .summary = "Redis replica {{ $labels.target }} lost its master link",
      .description = "The Redis replica {{ $labels.target }} has no working link to its master "
                     "{{ $labels.master_host }}:{{ $labels.master_port }}: it serves stale data "
                     "(or MASTERDOWN errors) and no longer protects against the master's loss.",
      .condition = "redis_master_link_up == 0",
      .rule_labels = "master_host, master_port",
      .evaluate = eval_equals("redis_master_link_up", 0),
      .prometheus = prom_equals("redis_master_link_up", 0),
  });

  return rules;
}

}  // namespace pgvigil::alerts::detail
