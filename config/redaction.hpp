#pragma once
// Keeping secrets out of output: the one place that knows how a password can
// appear in a connection string, a URL or a log line. Used by the rendered
// config, by log evidence and by error messages.
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgvigil::config {

// What a secret is replaced with in config output and error messages.
inline constexpr std::string_view kRedacted = "<redacted>";

// Masks the value of password=... (quoted or not) in keyword/value conninfo,
// and the password in postgresql:// URIs (user:secret@ and ?password=...).
// An unparsable keyword/value tail is replaced as a whole, since it may hold
// a password.
std::string redact_conninfo(std::string_view conninfo);

// What in a conninfo may be a secret, as literal strings: password values
// (keyword/value or URI, user info or ?password=) and, after a part that
// cannot be read, each word of the rest (a password with an unquoted space
// makes libpq quote its second half as a keyword).
std::vector<std::string> conninfo_secrets(std::string_view conninfo);

// A library's message about `conninfo` (libpq quotes all of a URI it cannot
// read, or a word of a keyword/value string), safe to show: the conninfo
// redacted wherever it is quoted, then scrub_secrets() with its secrets.
std::string redact_conninfo_message(std::string_view message, std::string_view conninfo);

// scheme://user:secret@host/... -> scheme://user:<redacted>@host/...; any
// other text is returned unchanged.
std::string redact_url_userinfo(std::string_view url);

// For free text such as a server log line: masks password=value (any case,
// quoted or bare, also PGPASSWORD=...) and the password of every
// scheme://user:secret@ in it with "***".
std::string mask_secrets(std::string_view text);

// For a message from a library that was handed secrets (libpq's errors and
// notices): every occurrence of each known secret is masked with "***" first,
// whatever the library quoted it in, then mask_secrets() runs. Empty secrets
// are ignored.
std::string scrub_secrets(std::string_view text, std::span<const std::string> secrets);

}  // namespace pgvigil::config
