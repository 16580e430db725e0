#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "config_test_support.hpp"

using namespace pgvigil::config;
using namespace pgvigil::config::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kQueues = R"(
[[target]]
name = "a"
labels = { env = "prod" }
[[target]]
name = "b"

[[collector]]
name = "app_queue"
sql = "SELECT queue, status, depth, processed, note FROM queues"
database = "app"
interval = "30s"
timeout = "2s"
max_rows = 50
max_series = 20
targets = ["a"]
[collector.columns]
queue = "label"
status = "label"
depth = { usage = "gauge", help = "Jobs waiting", expect = "< 100", for = "5m", severity = "critical" }
processed = { usage = "counter" }
note = "discard"

[[collector]]
name = "tenant"
databases = ["*"]
exclude_databases = ["template*"]
[[collector.branch]]
min_version = 150000
sql = "SELECT 1 AS size"
[[collector.branch]]
max_version = 149999
sql = "SELECT 2 AS size"
[collector.columns]
size = "gauge"
)";

}  // namespace

TEST_CASE("collectors: columns, caps, branches and the targets they apply to") {
  const Config config = parse_valid(kQueues);
  REQUIRE(config.collectors.size() == 2);
  const auto& queue = config.collectors[0];
  CHECK(queue.name == "app_queue");
  CHECK(queue.defined_at == "test.toml:8");
  CHECK(queue.databases == std::vector<std::string>{"app"});
  CHECK_FALSE(queue.walks_databases());
  CHECK(queue.interval == Duration{30s});
  CHECK(queue.timeout == Duration{2s});
  CHECK(queue.max_rows == 50);
  CHECK(queue.max_series == 20);
  REQUIRE(queue.branches.size() == 1);
  CHECK(queue.branches[0].min_version == 0);
  REQUIRE(queue.columns.size() == 5);
  const auto column = [&](std::string_view name) {
    for (const auto& c : queue.columns)
      if (c.name == name) return c;
    FAIL("no column " << name);
    return CollectorColumn{};
  };
  CHECK(column("queue").usage == ColumnUsage::label);
  CHECK(column("note").usage == ColumnUsage::discard);
  CHECK(column("processed").usage == ColumnUsage::counter);
  const auto depth = column("depth");
  CHECK(depth.usage == ColumnUsage::gauge);
  CHECK(depth.help == "Jobs waiting");
  CHECK(depth.has_expect);
  CHECK(depth.comparison == Comparison::less);
  CHECK(depth.threshold == doctest::Approx(100));
  CHECK(depth.for_duration == Duration{5min});
  CHECK(depth.severity == "critical");
  CHECK(queue.metric_name(depth) == "app_queue_depth");

  const auto& tenant = config.collectors[1];
  CHECK(tenant.walks_databases());
  REQUIRE(tenant.branches.size() == 2);
  CHECK(tenant.branches[0].min_version == 150000);
  CHECK(tenant.branches[1].max_version == 149999);

  // app_queue only on a, tenant on both.
  CHECK(config.targets[0].collectors.size() == 2);
  REQUIRE(config.targets[1].collectors.size() == 1);
  CHECK(config.targets[1].collectors[0].name == "tenant");
}

TEST_CASE("collectors: bad input names the collector and where it is") {
  const auto errors_of = [](std::string_view text) {
    return all_errors(parse_config_text(text, "bad.toml"));
  };
  const std::string target = "[[target]]\nname = \"a\"\nlabels = { env = \"x\" }\n";
  // Nothing to measure, no SQL, both SQL forms.
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\nsql = \"SELECT 1\"\n"
                                    "columns = { a = \"label\" }\n"),
                 "bad.toml:4:1: collector[0]: collector \"c\": no gauge or counter column"));
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\ncolumns = { a = \"gauge\" }\n"),
                 "collector \"c\": needs sql"));
  CHECK(contains(
      errors_of(target + "[[collector]]\nname = \"c\"\nsql = \"SELECT 1\"\n"
                         "columns = { a = \"gauge\" }\n[[collector.branch]]\nsql = \"x\"\n"),
      "not both"));
  // A usage that does not exist, an expectation on a label.
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\nsql = \"SELECT 1\"\n"
                                    "columns = { a = \"gauge\", b = \"histogram\" }\n"),
                 "bad.toml:7"));
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\nsql = \"SELECT 1\"\n"
                                    "columns = { a = \"gauge\", b = { usage = \"label\", expect "
                                    "= \"> 1\" } }\n"),
                 "expect needs a gauge or counter column"));
  // Names: invalid, reserved, built-in, duplicated, clashing labels.
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"my-queue\"\nsql = \"SELECT 1\"\n"
                                    "columns = { a = \"gauge\" }\n"),
                 "invalid collector name"));
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"pg_stat_activity\"\nsql = \"SELECT "
                                    "1\"\ncolumns = { count = \"gauge\" }\n"),
                 "bad.toml:4:1: collector: collector \"pg_stat_activity\": metric "
                 "pg_stat_activity_count is one of pgvigil's built-in metrics"));
  const std::string twice = errors_of(target +
                                      "[[collector]]\nname = \"a_b\"\nsql = \"SELECT 1\"\n"
                                      "columns = { c = \"gauge\" }\n"
                                      "[[collector]]\nname = \"a\"\nsql = \"SELECT 1\"\n"
                                      "columns = { b_c = \"gauge\" }\n");
  CHECK(contains(twice,
                 "bad.toml:8:1: collector: collector \"a\": metric a_b_c is also produced "
                 "by collector \"a_b\" (bad.toml:4)"));
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\nsql = \"SELECT 1\"\n"
                                    "columns = { env = \"label\", v = \"gauge\" }\n"),
                 "label column \"env\" clashes with target \"a\"'s label"));
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\nsql = \"SELECT 1\"\n"
                                    "columns = { target = \"label\", v = \"gauge\" }\n"),
                 "clashes with a label pgvigil sets"));
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\nsql = \"SELECT 1\"\n"
                                    "targets = [\"nope\"]\ncolumns = { v = \"gauge\" }\n"),
                 "unknown target \"nope\""));
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\nsql = \"SELECT 1\"\n"
                                    "max_rows = 0\ncolumns = { v = \"gauge\" }\n"),
                 "max_rows"));
  CHECK(contains(errors_of(target + "[[collector]]\nname = \"c\"\ncolumns = { v = \"gauge\" }\n"
                                    "[[collector.branch]]\nmin_version = 150000\nmax_version = "
                                    "140000\nsql = \"SELECT 1\"\n"),
                 "this branch would never run"));
}

TEST_CASE("collectors: collector_files are read by glob, errors name the included file") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("pgvigil-collectors-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "collectors.d");
  const auto write = [&](const std::filesystem::path& path, std::string_view text) {
    std::ofstream(path) << text;
  };
  write(dir / "collectors.d" / "one.toml",
        "[[collector]]\nname = \"one\"\nsql = \"SELECT 1 AS v\"\ncolumns = { v = \"gauge\" }\n");
  write(dir / "collectors.d" / "two.toml",
        "[[collector]]\nname = \"two\"\nsql = \"SELECT 1 AS v\"\ncolumns = { v = \"gauge\" }\n");
  write(dir / "collectors.d" / "ignored.txt", "not toml at all [[[");
  write(dir / "main.toml",
        "collector_files = [\"collectors.d/*.toml\"]\n[[target]]\nname = \"a\"\n");
  {
    const auto result = load_config_file((dir / "main.toml").string());
    INFO(all_errors(result));
    REQUIRE(result.config);
    REQUIRE(result.config->targets[0].collectors.size() == 2);
    CHECK(result.config->targets[0].collectors[0].name == "one");
    CHECK(result.config->targets[0].collectors[0].defined_at ==
          (dir / "collectors.d" / "one.toml").string() + ":1");
  }
  // A broken included file: the error names that file and line; an unknown key too.
  write(dir / "collectors.d" / "two.toml",
        "[[collector]]\nname = \"two\"\nsql = \"SELECT 1 AS v\"\ncolumns = { v = \"gauge\" }\n"
        "\n[[target]]\nname = \"sneaky\"\n");
  {
    const auto result = load_config_file((dir / "main.toml").string());
    CHECK_FALSE(result.config);
    CHECK(contains(all_errors(result), (dir / "collectors.d" / "two.toml").string() + ":6"));
  }
  write(dir / "collectors.d" / "two.toml",
        "[[collector]]\nname = \"one\"\nsql = \"SELECT 1\"\n"
        "columns = { v = \"gauge\" }\n");
  {
    const auto result = load_config_file((dir / "main.toml").string());
    CHECK(contains(all_errors(result), "collector \"one\": defined twice (first at " +
                                           (dir / "collectors.d" / "one.toml").string() + ":1)"));
  }
  // A glob that matches nothing is a warning, not an error.
  write(dir / "main.toml", "collector_files = [\"none/*.toml\"]\n[[target]]\nname = \"a\"\n");
  {
    const auto result = load_config_file((dir / "main.toml").string());
    CHECK(result.config);
    CHECK(contains(all_warnings(result), "matches no file"));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("collectors: a built-in name can be taken over only where its probe is off") {
  const std::string collector =
      "[[collector]]\nname = \"pg_stat_user_tables\"\nsql = \"SELECT 1\"\n"
      "columns = { relname = \"label\", n_dead_tup = \"gauge\" }\n";
  const auto on = parse_config_text("[[target]]\nname = \"a\"\n" + collector, "t.toml");
  CHECK(contains(all_errors(on),
                 "metric pg_stat_user_tables_n_dead_tup is one of pgvigil's "
                 "built-in metrics (probe vacuum; switch it off"));
  const auto off = parse_config_text(
      "[probes.vacuum]\nenabled = false\n[[target]]\nname = \"a\"\n" + collector, "t.toml");
  CHECK(all_errors(off).empty());
  // Off on one target but on for another it runs on: still refused.
  const auto mixed = parse_config_text(
      "[[target]]\nname = \"a\"\n[target.probes.vacuum]\n"
      "enabled = false\n[[target]]\nname = \"b\"\n" +
          collector,
      "t.toml");
  CHECK_FALSE(all_errors(mixed).empty());
  // pg_up belongs to no probe that can be switched off.
  const auto up = parse_config_text(
      "[[target]]\nname = \"a\"\n[[collector]]\nname = \"pg\"\nsql = \"SELECT 1\"\n"
      "columns = { up = \"gauge\" }\n",
      "t.toml");
  CHECK(contains(all_errors(up), "metric pg_up is one of pgvigil's built-in metrics"));
}

TEST_CASE("collectors: check-config's effective configuration shows them and loads again") {
  const Config config = parse_valid(kQueues);
  const std::string rendered = render_effective_config(config);
  CAPTURE(rendered);
  CHECK(contains(rendered, "[[collector]]"));
  CHECK(contains(rendered, "expect = '< 100'"));
  const Config reparsed = parse_valid(rendered);
  CHECK(render_effective_config(reparsed) == rendered);
  REQUIRE(reparsed.collectors.size() == 2);
  CHECK(reparsed.collectors[1].branches.at(0).min_version == 150000);
  CHECK(reparsed.targets.at(1).collectors.size() == 1);
}

TEST_CASE("collectors: collector_files reads regular files only") {
  const auto result = parse_config_text(
      "collector_files = [\"/dev/null\"]\n[[target]]\nname = \"a\"\n", "/tmp/x.toml");
  CHECK(contains(all_errors(result), "\"/dev/null\" is not a regular file"));
}
