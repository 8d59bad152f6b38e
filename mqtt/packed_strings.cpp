// packed_strings: entries end with a NUL in one string; scans compare entry by entry.
#include "mqtt/packed_strings.hpp"

#include <utility>

namespace perch::mqtt {

void packed_strings::push_back(std::string_view text) {
    // Grown to the exact size (std::string would double its capacity): a subscriber's filters
    // are added one at a time, a few dozen at most, and then kept for the session's life.
    std::string grown;
    grown.reserve(packed_.size() + text.size() + 1);
    grown.append(packed_);
    grown.append(text);
    grown.push_back('\0');
    packed_ = std::move(grown);
    ++count_;
}

std::size_t packed_strings::find(std::string_view text) const {
    std::size_t position = 0;
    while (position < packed_.size()) {
        const std::size_t end = packed_.find('\0', position);
        if (std::string_view(packed_).substr(position, end - position) == text) {
            return position;
        }
        position = end + 1;
    }
    return std::string::npos;
}

bool packed_strings::erase(std::string_view text) {
    const std::size_t position = find(text);
    if (position == std::string::npos) {
        return false;
    }
    packed_.erase(position, text.size() + 1);
    --count_;
    if (packed_.empty()) {
        // Give the block back: a subscriber without filters keeps nothing.
        std::string().swap(packed_);
    }
    return true;
}

bool packed_strings::contains(std::string_view text) const {
    return find(text) != std::string::npos;
}

std::vector<std::string> packed_strings::to_vector() const {
    std::vector<std::string> entries;
    entries.reserve(count_);
    for_each([&entries](std::string_view entry) { entries.emplace_back(entry); });
    return entries;
}

} // namespace perch::mqtt
