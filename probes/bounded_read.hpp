#pragma once
// Reads a small system or PostgreSQL file (mountinfo, /proc/net/tcp,
// postmaster.pid) whole, up to a limit. Grows the buffer as the file does
// instead of reserving the limit: a multi-MiB zeroed buffer per round would
// stay resident in the worker thread's malloc arena.
#include <cstddef>
#include <optional>
#include <string>

namespace pgvigil {

// The file's first max_bytes bytes; nullopt with errno in `error` when it
// cannot be opened or read.
std::optional<std::string> read_bounded(const std::string& path, std::size_t max_bytes, int& error);

}  // namespace pgvigil
