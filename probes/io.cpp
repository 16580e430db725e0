#include "probes/io.hpp"

#include <array>
#include <string>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// 16 and 17 count operations of op_bytes each (the block size for relations).
constexpr std::string_view kIoSql = R"sql(
SELECT backend_type, object, context,
       reads, reads * op_bytes AS read_bytes, read_time,
       writes, writes * op_bytes AS write_bytes, write_time,
       writebacks, writeback_time,
       extends, extends * op_bytes AS extend_bytes, extend_time,
       hits, evictions, reuses, fsyncs, fsync_time
FROM pg_stat_io
ORDER BY backend_type, object, context)sql";

// 18 dropped op_bytes for byte columns (WAL I/O, now in this view, has no
// fixed operation size).
constexpr std::string_view kIoSince18Sql = R"sql(
SELECT backend_type, object, context,
       reads, read_bytes, read_time,
       writes, write_bytes, write_time,
       writebacks, writeback_time,
       extends, extend_bytes, extend_time,
       hits, evictions, reuses, fsyncs, fsync_time
FROM pg_stat_io
ORDER BY backend_type, object, context)sql";

constexpr int kFirstVersionWithStatIo = 160000;
constexpr int kFirstVersionWithByteColumns = 180000;

struct Column {
  std::string_view column;
  std::string_view metric;
  std::string_view help;
};

// postgres_exporter's names (collector/pg_stat_io.go, spelling included);
// the byte counters are pgvigil's. Times in milliseconds, as the view has
// them (0 without track_io_timing).
constexpr std::array kColumns{
    Column{"reads", "pg_stat_io_reads_total", "Read operations (16+)."},
    Column{"read_bytes", "pg_stat_io_read_bytes_total", "Bytes read (16+)."},
    Column{"read_time", "pg_stat_io_read_time_total",
           "Time spent in read operations, in milliseconds (track_io_timing; 16+)."},
    Column{"writes", "pg_stat_io_writes_total", "Write operations (16+)."},
    Column{"write_bytes", "pg_stat_io_write_bytes_total", "Bytes written (16+)."},
    Column{"write_time", "pg_stat_io_writes_time_total",
           "Time spent in write operations, in milliseconds (track_io_timing; 16+)."},
    Column{"writebacks", "pg_stat_io_write_back_total",
           "Units the process asked the kernel to write out to storage (16+)."},
    Column{"writeback_time", "pg_stat_io_write_back_time_total",
           "Time spent in writeback operations, in milliseconds (track_io_timing; 16+)."},
    Column{"extends", "pg_stat_io_extends_total", "Relation extend operations (16+)."},
    Column{"extend_bytes", "pg_stat_io_extend_bytes_total", "Bytes added by extends (16+)."},
    Column{"extend_time", "pg_stat_io_extends_time_total",
           "Time spent in extend operations, in milliseconds (track_io_timing; 16+)."},
    Column{"hits", "pg_stat_io_hits_total", "Times a wanted block was found in a buffer (16+)."},
    Column{"evictions", "pg_stat_io_evictions_total",
           "Times a block was written out of a buffer to make the buffer available (16+)."},
    Column{"reuses", "pg_stat_io_reuses_total",
           "Times a buffer of a ring buffer was reused (bulkread, bulkwrite, vacuum; 16+)."},
    Column{"fsyncs", "pg_stat_io_fsync_total", "fsync calls (16+)."},
    Column{"fsync_time", "pg_stat_io_fsync_time_total",
           "Time spent in fsync calls, in milliseconds (track_io_timing; 16+)."},
};

}  // namespace

std::vector<Query> IoProbe::queries(const ProbeContext& ctx) const {
  const int version = ctx.server.version_num;
  if (version < kFirstVersionWithStatIo) return {};
  return {
      {"stat_io", std::string(version >= kFirstVersionWithByteColumns ? kIoSince18Sql : kIoSql)}};
}

void IoProbe::collect(const ProbeContext&, std::span<const QueryResult> results, SampleSink& out) {
  report_permission_denied(out, {{"probe", "io"}}, any_permission_denied(results));
  if (results.empty() || !results[0].ok) return;
  const auto& rows = results[0];
  for (std::size_t row = 0; row < rows.rows.size(); ++row) {
    auto backend_type = rows.text(row, "backend_type");
    auto object = rows.text(row, "object");
    auto context = rows.text(row, "context");
    if (!backend_type || !object || !context) continue;
    // Most combinations never do any I/O (or cannot: NULL); leaving them out
    // keeps the series to what this server really does.
    bool counted = false;
    for (const auto& column : kColumns)
      if (auto value = rows.number(row, column.column); value && *value != 0) counted = true;
    if (!counted) continue;
    const Labels labels{{"backend_type", std::string(*backend_type)},
                        {"object", std::string(*object)},
                        {"context", std::string(*context)}};
    for (const auto& column : kColumns)
      if (auto value = rows.number(row, column.column))
        out.counter(column.metric, column.help, labels, *value);
  }
}

std::unique_ptr<SqlProbe> make_io_probe() {
  return std::make_unique<IoProbe>();
}

}  // namespace pgvigil
