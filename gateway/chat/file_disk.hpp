// The bytes of stored files on disk: random ids, SHA-256, durable writes (a temporary file,
// fsync, rename, the directory's fsync) and ranged reads. Called on the file service's file
// thread; knows no HTTP and no store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace perch::gateway {

/// `size` random bytes from wolfCrypt's generator, in lowercase hex. Throws std::runtime_error.
std::string random_hex(std::size_t size);

/// The SHA-256 of `data` in lowercase hex. Throws std::runtime_error.
std::string sha256_hex(std::string_view data);

/// Writes `data` to `path` through a temporary file in the same directory, fsyncs it, renames it
/// into place and fsyncs the directory: the file is whole and durable when this returns. Throws
/// std::system_error, leaving no temporary file behind.
void write_durably(const std::filesystem::path& path, std::string_view data);

/// `length` bytes of the file at `path` from `offset`. Throws std::system_error when the file
/// cannot be opened or holds fewer bytes.
std::string read_file_bytes(const std::filesystem::path& path, std::uint64_t offset,
                            std::uint64_t length);

} // namespace perch::gateway
