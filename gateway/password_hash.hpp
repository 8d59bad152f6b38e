// Password hashes in mosquitto_passwd's `$7$` format, so that a Mosquitto password file imports
// unchanged: `$7$ITERATIONS$BASE64(SALT)$BASE64(PBKDF2-SHA512(password, salt, ITERATIONS, 64))`
// with standard Base64 (padding kept). Knows nothing about users or storage.
//
// Iterations. New hashes use 101 iterations and a 12-byte random salt by default, as Mosquitto 2.0
// writes them: hashes stay interchangeable with Mosquitto in both directions, and a storm of
// logins after a restart costs little CPU on a small board. Deployments that want a slower hash
// pass a higher count; verification accepts any count a hash names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace perch::gateway {

/// The iteration count new hashes use unless told otherwise (Mosquitto 2.0's).
inline constexpr std::uint32_t default_password_iterations = 101;

/// Hashes `password` with a fresh 12-byte salt from wolfCrypt's random generator and returns the
/// `$7$` string. `iterations` must be between 1 and 2^31 - 1; throws std::invalid_argument
/// otherwise, and std::runtime_error when the random generator or PBKDF2 fails.
std::string hash_password(std::string_view password,
                          std::uint32_t iterations = default_password_iterations);

/// True when `encoded` is a well-formed `$7$` hash of `password`. The derived key is compared in
/// constant time. Returns false (never throws) for a malformed string: another prefix, an
/// iteration count outside 1..2^31 - 1, invalid Base64, an empty salt or a key of another length.
bool verify_password(std::string_view password, std::string_view encoded);

/// True when `encoded` is a well-formed `$7$` hash (the checks verify_password makes before
/// deriving a key), whatever password it hashes. Cheap: derives nothing.
bool is_valid_password_hash(std::string_view encoded);

} // namespace perch::gateway
