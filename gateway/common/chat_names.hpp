// The rule every user and room name follows, shared by the administration commands and the
// gateway's chat layer. Knows nothing about storage or topics beyond the characters they reserve.
#pragma once

#include <cstddef>
#include <string_view>

namespace perch::gateway {

/// The longest user or room name, in bytes.
inline constexpr std::size_t max_chat_name_bytes = 64;

/// True when `name` can name a user or a room: 1 to 64 bytes of well-formed UTF-8 (no overlong
/// forms, no surrogates, nothing above U+10FFFF) without the topic characters `/ + # $` and
/// without control characters (U+0000..U+001F, U+007F..U+009F).
bool is_valid_chat_name(std::string_view name);

} // namespace perch::gateway
