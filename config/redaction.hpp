#pragma once
// Keeping secrets out of output: the one place that knows how a password can
// appear in a connection string, a URL or a log line. Used by the rendered
// config, by log evidence and by error messages.
#include <string>
#include <string_view>

namespace pgvigil::config {

// What a secret is replaced with in config output and error messages.
inline constexpr std::string_view kRedacted = "<redacted>";

// Masks the value of password=... (quoted or not) in keyword/value conninfo,
// and the password in postgresql:// URIs (user:secret@ and ?password=...).
// An unparsable keyword/value tail is replaced as a whole, since it may hold
// a password.
std::string redact_conninfo(std::string_view conninfo);

// scheme://user:secret@host/... -> scheme://user:<redacted>@host/...; any
// other text is returned unchanged.
std::string redact_url_userinfo(std::string_view url);

// For free text such as a server log line: masks password=value (any case,
// quoted or bare, also PGPASSWORD=...) and the password of every
// scheme://user:secret@ in it with "***".
std::string mask_secrets(std::string_view text);

}  // namespace pgvigil::config
