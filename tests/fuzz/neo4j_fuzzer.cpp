// libFuzzer harness: an HTTP body from a Neo4j server -> every reply parser
// of probes/neo4j (the discovery document, a tx/commit reply under the
// statuses the session meets, a cluster flag, /dbms/cluster/status), then
// collect_round over what they found and classify_status_code on the text,
// the samples as exposition text.
//
// Input: the body, as is (the seeds are tests/data/neo4j/). Each parser sees
// every input, whatever it looks like: the session does not know what a
// misbehaving server or a proxy in front of it will send either.
#include <prometheus/text_serializer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "probes/neo4j.hpp"

namespace {

using namespace pgvigil::neo4j;

void check_reason(DownReason reason) {
  if (to_string(reason).empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  Round round;
  round.database = "neo4j";

  const auto discovery = parse_discovery(body);
  if (discovery.discovery) {
    round.discovery = *discovery.discovery;
  } else if (discovery.error.empty()) {
    std::abort();  // a refusal always says why
  }

  for (unsigned status : {200U, 201U, 400U, 401U, 403U, 404U, 500U, 503U}) {
    const auto tx = parse_tx_reply(status, body);
    check_reason(tx.reason);
    if (tx.reason != DownReason::none && tx.error.empty()) std::abort();
    if (status == 200 && tx.reason == DownReason::none) round.available = true;
  }

  for (unsigned status : {200U, 404U, 503U}) {
    switch (parse_cluster_flag(status, body)) {
      case ClusterFlag::yes:
        round.writable = true;
        break;
      case ClusterFlag::no:
        round.writable = false;
        break;
      case ClusterFlag::absent:
      case ClusterFlag::bad:
        break;
    }
  }

  const auto cluster = parse_cluster_status(body);
  if (cluster.databases) {
    round.cluster = *cluster.databases;
  } else if (cluster.error.empty()) {
    std::abort();
  }

  check_reason(classify_status_code(body));

  pgvigil::SampleSink sink;
  collect_round(round, sink);
  Liveness liveness;
  liveness.up = true;
  liveness.reason = DownReason::none;
  liveness.emit(sink);
  (void)prometheus::TextSerializer().Serialize(sink.take());
  return 0;
}
