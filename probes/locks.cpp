#include "probes/locks.hpp"

#include <fmt/format.h>

#include <string>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// Every table-level lock mode for every database, 0 where none is held, so
// that series do not appear and vanish with the load.
constexpr std::string_view kLocksSql = R"sql(
SELECT d.datname, m.mode, count(l.mode) AS count
FROM pg_database AS d
CROSS JOIN (VALUES ('accesssharelock'), ('rowsharelock'), ('rowexclusivelock'),
                   ('shareupdateexclusivelock'), ('sharelock'), ('sharerowexclusivelock'),
                   ('exclusivelock'), ('accessexclusivelock'), ('sireadlock')) AS m(mode)
LEFT JOIN pg_locks AS l ON l.database = d.oid AND lower(l.mode) = m.mode
WHERE {datnames}
GROUP BY d.datname, m.mode
ORDER BY d.datname, m.mode)sql";

}  // namespace

std::vector<Query> LocksProbe::queries(const ProbeContext& ctx) const {
  return {
      {"locks", fmt::format(fmt::runtime(kLocksSql),
                            fmt::arg("datnames", datname_prefilter(ctx.databases, "d.datname")))}};
}

void LocksProbe::collect(const ProbeContext&, std::span<const QueryResult> results,
                         SampleSink& out) {
  report_permission_denied(out, {{"probe", "locks"}}, any_permission_denied(results));
  if (results.empty() || !results[0].ok) return;
  const auto& locks = results[0];
  for (std::size_t row = 0; row < locks.rows.size(); ++row) {
    auto datname = locks.text(row, "datname");
    auto mode = locks.text(row, "mode");
    auto count = locks.number(row, "count");
    if (!datname || !mode || !count) continue;
    out.gauge("pg_locks_count", "Number of locks held or awaited in this database and mode",
              {{"datname", std::string(*datname)}, {"mode", std::string(*mode)}}, *count);
  }
}

std::unique_ptr<SqlProbe> make_locks_probe() {
  return std::make_unique<LocksProbe>();
}

}  // namespace pgvigil
