// Password hashes in mosquitto_passwd's `$7$` format, so that a Mosquitto password file imports
// unchanged: `$7$ITERATIONS$BASE64(SALT)$BASE64(PBKDF2-SHA512(password, salt, ITERATIONS, 64))`
// with standard Base64 (padding kept). Knows nothing about users or storage.
//
// Iterations. New hashes use 210,000 iterations (OWASP's figure for PBKDF2-HMAC-SHA512; the
// config key password_iterations) and a 12-byte random salt. Mosquitto 2.0 writes 101, which a
// stolen database gives up quickly; verification accepts any count a hash names, so Mosquitto's
// hashes import unchanged and are rewritten at their user's next login (chat_service). One
// verification costs about 0.2 s of a core: devices reconnect with device tokens instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/common/password_iterations.hpp"

namespace perch::gateway {

/// Hashes `password` with a fresh 12-byte salt from wolfCrypt's random generator and returns the
/// `$7$` string. `iterations` must be between 1 and 2^31 - 1; throws std::invalid_argument
/// otherwise, and std::runtime_error when the random generator or PBKDF2 fails.
std::string hash_password(std::string_view password,
                          std::uint32_t iterations = default_password_iterations);

/// True when `encoded` is a well-formed `$7$` hash of `password`. The derived key is compared in
/// constant time. Returns false (never throws) for a malformed string: another prefix, an
/// iteration count outside 1..2^31 - 1, invalid Base64, an empty salt or a key of another length.
bool verify_password(std::string_view password, std::string_view encoded);

/// The iteration count a well-formed `$7$` hash names; nullopt for a malformed one.
std::optional<std::uint32_t> password_hash_iterations(std::string_view encoded);

/// True when `encoded` is a well-formed `$7$` hash (the checks verify_password makes before
/// deriving a key), whatever password it hashes. Cheap: derives nothing.
bool is_valid_password_hash(std::string_view encoded);

} // namespace perch::gateway
