// FTP path normalisation. Lexical only: ".." never climbs above "/".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace feitp::proto {

// Resolves `arg` (absolute, or relative to `cwd`, which is absolute and normalised) into a
// normalised absolute path: "/" or "/a/b" (no trailing slash, no "." or ".." or empty parts).
// Backslashes are ordinary characters. nullopt when arg contains NUL or the result would exceed
// max_len bytes.
std::optional<std::string> resolve_path(std::string_view cwd, std::string_view arg,
                                        std::size_t max_len = 4096);

// "/a/b" -> "/a"; "/a" -> "/"; "/" -> "/".
std::string_view parent_path(std::string_view normalised);
// "/a/b" -> "b"; "/" -> "".
std::string_view base_name(std::string_view normalised);
// Joins a normalised directory and a single name.
std::string join_path(std::string_view dir, std::string_view name);

}  // namespace feitp::proto
