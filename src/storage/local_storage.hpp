// feitp storage: internal entry points of the local back-end (tests choose the resolver).
#pragma once

#include <memory>
#include <string_view>

#include "feitp/storage.hpp"

namespace feitp::storage {

// How paths are resolved beneath the root.
enum class Resolver : unsigned char {
  automatic,  // openat2(RESOLVE_BENEATH) when the kernel has it, else the walk
  walk,       // component-by-component O_NOFOLLOW walk; every symlink is refused (EACCES)
};

Result<std::unique_ptr<Storage>> make_local_storage(const LocalStorageOptions& options, Resolver resolver);

// Prefix of the temporary names of atomic uploads; list() hides such entries.
inline constexpr std::string_view kUploadTempPrefix = ".feitp-upload.";

}  // namespace feitp::storage
