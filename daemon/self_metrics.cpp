#include "daemon/self_metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "probes/sample_sink.hpp"

namespace pgvigil {

namespace {
std::string read_small_file(const char* path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double value = 0;
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

double open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  double count = 0;
  while (auto* entry = readdir(dir))
    if (entry->d_name[0] != '.') ++count;
  closedir(dir);
  return count - 1;  // the directory handle itself
}
}  // namespace

bool parse_proc_stat(std::string_view text, long ticks_per_second, long page_size, double boot_time,
                     ProcStat& out) {
  // comm may contain spaces and parentheses: fields start after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return false;
  std::istringstream fields{std::string(text.substr(close + 1))};
  std::vector<std::string> values;
  std::string value;
  while (fields >> value) values.push_back(value);
  // After ')': state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24).
  if (values.size() < 22) return false;
  try {
    const double utime = std::stod(values[11]);
    const double stime = std::stod(values[12]);
    const double start_ticks = std::stod(values[19]);
    const double vsize = std::stod(values[20]);
    const double rss_pages = std::stod(values[21]);
    const auto ticks = static_cast<double>(ticks_per_second);
    out.cpu_seconds = (utime + stime) / ticks;
    out.start_time_seconds = boot_time + start_ticks / ticks;
    out.virtual_bytes = vsize;
    out.resident_bytes = rss_pages * static_cast<double>(page_size);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

std::vector<prometheus::MetricFamily> SelfMetrics::Collect() const {
  SampleSink sink;
  sink.gauge("pgvigil_build_info", "pgvigil's version and source revision; always 1.",
             {{"version", PGVIGIL_VERSION}, {"revision", PGVIGIL_REVISION}}, 1);
  static const double boot = boot_time_seconds();
  ProcStat stat;
  if (parse_proc_stat(read_small_file("/proc/self/stat"), sysconf(_SC_CLK_TCK),
                      sysconf(_SC_PAGESIZE), boot, stat)) {
    sink.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                 {}, stat.cpu_seconds);
    sink.gauge("process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.", {},
               stat.start_time_seconds);
    sink.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
               stat.virtual_bytes);
    sink.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {},
               stat.resident_bytes);
  }
  sink.gauge("process_open_fds", "Number of open file descriptors.", {}, open_fds());
  return sink.take();
}

}  // namespace pgvigil
