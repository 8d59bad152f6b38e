// Range requests on downloads. See the header.
#include "gateway/chat/file_range.hpp"

#include <charconv>
#include <optional>

namespace perch::gateway {

namespace {

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

/// The decimal number that is all of `text`, when it is one and fits.
std::optional<std::uint64_t> number_of(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

/// Range units are case-insensitive (RFC 9110 section 14.1).
bool is_bytes_unit(std::string_view unit) {
    constexpr std::string_view bytes = "bytes";
    if (unit.size() != bytes.size()) {
        return false;
    }
    for (std::size_t index = 0; index < unit.size(); ++index) {
        const char letter = unit[index] >= 'A' && unit[index] <= 'Z'
                                ? static_cast<char>(unit[index] - 'A' + 'a')
                                : unit[index];
        if (letter != bytes[index]) {
            return false;
        }
    }
    return true;
}

} // namespace

file_range parse_file_range(std::string_view header, std::uint64_t size_bytes) {
    file_range whole;
    const std::size_t equals = header.find('=');
    if (equals == std::string_view::npos || !is_bytes_unit(trimmed(header.substr(0, equals)))) {
        return whole;
    }
    const std::string_view spec = trimmed(header.substr(equals + 1));
    const std::size_t dash = spec.find('-');
    if (spec.find(',') != std::string_view::npos || dash == std::string_view::npos) {
        return whole;
    }
    const std::string_view first_text = trimmed(spec.substr(0, dash));
    const std::string_view last_text = trimmed(spec.substr(dash + 1));
    file_range range;
    range.answer = file_range::kind::part;
    if (first_text.empty()) {
        // bytes=-n: the last n bytes.
        const std::optional<std::uint64_t> suffix = number_of(last_text);
        if (!suffix) {
            return whole;
        }
        if (*suffix == 0 || size_bytes == 0) {
            range.answer = file_range::kind::unsatisfiable;
            return range;
        }
        range.first = *suffix >= size_bytes ? 0 : size_bytes - *suffix;
        range.last = size_bytes - 1;
        return range;
    }
    const std::optional<std::uint64_t> first = number_of(first_text);
    if (!first) {
        return whole;
    }
    std::uint64_t last = size_bytes == 0 ? 0 : size_bytes - 1;
    if (!last_text.empty()) {
        const std::optional<std::uint64_t> asked_last = number_of(last_text);
        if (!asked_last || *asked_last < *first) {
            // Invalid, so ignored (RFC 9110 section 14.1.1).
            return whole;
        }
        last = std::min(last, *asked_last);
    }
    if (*first >= size_bytes) {
        range.answer = file_range::kind::unsatisfiable;
        return range;
    }
    range.first = *first;
    range.last = last;
    return range;
}

} // namespace perch::gateway
