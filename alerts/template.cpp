#include "alerts/template.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>

#include "alerts/labels.hpp"
#include "config/text.hpp"

namespace pgvigil::alerts {

namespace {

// Go's %.4g, which these templates use, matches C's %.4g.
std::string g4(double value) {
  return fmt::format("{:.4g}", value);
}

std::string trim(std::string_view text) {
  return std::string(config::trim(text, " "));
}

}  // namespace

std::string humanize(double v) {
  if (v == 0 || !std::isfinite(v)) return g4(v);
  std::string prefix;
  if (std::fabs(v) >= 1) {
    for (const char* p : {"k", "M", "G", "T", "P", "E", "Z", "Y"}) {
      if (std::fabs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
  } else {
    for (const char* p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
      if (std::fabs(v) >= 1) break;
      prefix = p;
      v *= 1000;
    }
  }
  return g4(v) + prefix;
}

std::string humanize_duration(double v) {
  if (!std::isfinite(v)) return g4(v);
  if (v == 0) return g4(v) + "s";
  if (std::fabs(v) >= 1) {
    std::string sign;
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    const auto total = static_cast<std::int64_t>(v);
    const auto seconds = total % 60;
    const auto minutes = (total / 60) % 60;
    const auto hours = (total / 3600) % 24;
    const auto days = total / 86400;
    if (days != 0) return fmt::format("{}{}d {}h {}m {}s", sign, days, hours, minutes, seconds);
    if (hours != 0) return fmt::format("{}{}h {}m {}s", sign, hours, minutes, seconds);
    if (minutes != 0) return fmt::format("{}{}m {}s", sign, minutes, seconds);
    return sign + g4(v) + "s";
  }
  std::string prefix;
  for (const char* p : {"m", "u", "n"}) {
    if (std::fabs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return g4(v) + prefix + "s";
}

std::string humanize_percentage(double ratio) {
  return g4(ratio * 100) + "%";
}

std::string humanize_1024(double v) {
  if (std::fabs(v) <= 1 || !std::isfinite(v)) return g4(v);
  std::string prefix;
  for (const char* p : {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"}) {
    if (std::fabs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return g4(v) + prefix;
}

std::string render_template(std::string_view text, const Labels& labels, double value) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto open = text.find("{{", pos);
    const auto close = open == std::string_view::npos ? open : text.find("}}", open + 2);
    if (open == std::string_view::npos || close == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, open - pos));
    const std::string expr = trim(text.substr(open + 2, close - open - 2));
    std::string replacement;
    bool known = true;
    if (expr.starts_with("$labels.")) {
      replacement = label_value(labels, std::string_view(expr).substr(8));
    } else if (expr == "$value") {
      replacement = fmt::format("{}", value);
    } else if (expr.starts_with("$value")) {
      auto pipe = expr.find('|');
      const std::string fn = pipe == std::string::npos ? "" : trim(expr.substr(pipe + 1));
      if (fn == "humanize")
        replacement = humanize(value);
      else if (fn == "humanizeDuration")
        replacement = humanize_duration(value);
      else if (fn == "humanizePercentage")
        replacement = humanize_percentage(value);
      else if (fn == "humanize1024")
        replacement = humanize_1024(value);
      else
        known = false;
    } else {
      known = false;
    }
    if (known)
      out += replacement;
    else
      out.append(text.substr(open, close + 2 - open));
    pos = close + 2;
  }
  return out;
}

}  // namespace pgvigil::alerts
