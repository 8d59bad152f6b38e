// Device tokens (docs/CHAT.md "Device tokens"): a 256-bit random secret a device presents as its
// password instead of the user's, checked with one SHA-256 instead of a slow password hash.
// Knows nothing about users or storage.
//
// A token is `tok:` followed by 64 lowercase hex digits. It is shown once, when issued; the store
// keeps only device_token_hash() of it. A secret with 256 bits of entropy needs no salt nor work
// factor: nobody can guess one, however fast the hash.
#pragma once

#include <string>
#include <string_view>

namespace perch::gateway {

/// The text every token starts with.
inline constexpr std::string_view device_token_prefix = "tok:";

/// A fresh token from wolfCrypt's random generator. Throws std::runtime_error when the generator
/// fails.
std::string make_device_token();

/// True when `password` has the form of a token (the prefix and 64 lowercase hex digits). Such a
/// password is checked against the user's tokens only, never as a password.
bool is_device_token(std::string_view password);

/// The SHA-256 of `token`, in lowercase hex: what the store keeps.
std::string device_token_hash(std::string_view token);

/// True when `left` and `right` are equal, in a time that depends on their lengths only.
bool equal_in_constant_time(std::string_view left, std::string_view right);

} // namespace perch::gateway
