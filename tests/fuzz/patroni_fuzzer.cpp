// libFuzzer harness: a Patroni GET /cluster body -> parse_patroni_cluster,
// the member table, and the probe's samples (two rounds, so the
// leader-change bookkeeping runs) serialised as exposition text.
#include <prometheus/text_serializer.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "probes/patroni.hpp"
#include "probes/sample_sink.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  std::string error;
  if (const auto cluster = pgvigil::parse_patroni_cluster(body, &error)) {
    (void)cluster->leader();
    (void)pgvigil::patroni_member_table(*cluster);
  }

  pgvigil::PatroniProbe probe;
  for (int round = 0; round < 2; ++round) {
    pgvigil::SampleSink sink;
    (void)probe.collect_reply(body, sink);
    (void)prometheus::TextSerializer().Serialize(sink.take());
  }
  return 0;
}
