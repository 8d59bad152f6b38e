// packed_strings: entries end with a NUL in one string; scans compare entry by entry.
#include "mqtt/packed_strings.hpp"

#include <utility>

namespace perch::mqtt {

void packed_strings::push_back(std::string_view text) {
    const std::size_t needed = packed_.size() + text.size() + 1;
    if (needed > packed_.capacity()) {
        // Grown to the exact size while the list is short (std::string would double its
        // capacity): a chat user's filters are added one at a time, a few dozen, and then kept
        // for the session's life. A long list (a client subscribing to hundreds of filters)
        // grows by half instead, so that adding its filters one by one stays linear.
        const std::size_t wanted = packed_.size() < long_list_bytes ? needed : needed + needed / 2;
        std::string grown;
        grown.reserve(wanted);
        grown.append(packed_);
        packed_ = std::move(grown);
    }
    packed_.append(text);
    packed_.push_back('\0');
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

void packed_strings::erase_first(std::size_t count) {
    if (count >= count_) {
        std::string().swap(packed_);
        count_ = 0;
        return;
    }
    std::size_t end = 0;
    for (std::size_t erased = 0; erased < count; ++erased) {
        end = packed_.find('\0', end) + 1;
    }
    packed_.erase(0, end);
    count_ -= count;
}

std::vector<std::string> packed_strings::to_vector() const {
    std::vector<std::string> entries;
    entries.reserve(count_);
    for_each([&entries](std::string_view entry) { entries.emplace_back(entry); });
    return entries;
}

} // namespace perch::mqtt
