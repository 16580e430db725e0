#pragma once
// checks: a user-defined SQL check ([[target.check]]): one numeric value,
// compared against a threshold, run read-only under its own statement timeout.
#include <memory>
#include <optional>

#include "probes/probe.hpp"

namespace pgvigil {

class CustomCheckProbe final : public SqlProbe {
 public:
  explicit CustomCheckProbe(config::CheckConfig check);

  std::string_view name() const noexcept override { return "check"; }
  config::Duration default_interval() const noexcept override { return check_.interval; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;

  const config::CheckConfig& check() const noexcept { return check_; }

 private:
  config::CheckConfig check_;
};

std::unique_ptr<SqlProbe> make_custom_check_probe(const config::CheckConfig& check);

// True when `value <comparison> threshold` holds (NaN never satisfies one,
// except not_equal).
bool check_passes(config::Comparison comparison, double value, double threshold) noexcept;

}  // namespace pgvigil
