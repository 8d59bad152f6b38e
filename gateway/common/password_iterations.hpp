// The PBKDF2 iteration counts of password hashes (gateway/chat/password_hash), here so that the
// config can default and bound its password_iterations key without knowing the hashing.
#pragma once

#include <cstdint>

namespace perch::gateway {

/// The iteration count new hashes use unless told otherwise (config key password_iterations).
inline constexpr std::uint32_t default_password_iterations = 210'000;
/// The range of iteration counts a hash may name.
inline constexpr std::uint32_t min_password_iterations = 1;
inline constexpr std::uint32_t max_password_iterations = 2'147'483'647;

} // namespace perch::gateway
