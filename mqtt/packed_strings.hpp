// A short list of strings kept in one allocation: the filters of one subscriber in the
// subscription index, where a chat user holds twenty or more and thousands of users are logged in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace perch::mqtt {

/// Strings without NUL characters, each stored followed by a NUL in one std::string: one heap
/// block for the whole list instead of one per string plus a vector. Lookups and removals scan the
/// list, which suits a few dozen entries. MQTT topic filters never contain U+0000 [MQTT-1.5.4-2].
class packed_strings {
public:
    /// Appends `text` (which must not contain NUL); duplicates are the caller's business.
    void push_back(std::string_view text);
    /// Removes the first entry equal to `text`; false when there is none.
    bool erase(std::string_view text);
    /// True when an entry equals `text`.
    bool contains(std::string_view text) const;
    /// Removes the first `count` entries (all of them when there are fewer) in one move of the
    /// rest.
    void erase_first(std::size_t count);
    bool empty() const { return packed_.empty(); }
    std::size_t size() const { return count_; }

    /// Calls `visit(std::string_view)` for each entry in order.
    template <typename Visitor> void for_each(Visitor&& visit) const {
        std::size_t position = 0;
        while (position < packed_.size()) {
            const std::size_t end = packed_.find('\0', position);
            visit(std::string_view(packed_).substr(position, end - position));
            position = end + 1;
        }
    }

    /// The entries as separate strings, in order.
    std::vector<std::string> to_vector() const;

private:
    /// Past this many bytes a list grows by half its size rather than exactly.
    static constexpr std::size_t long_list_bytes = 1024;

    /// Offset of the entry equal to `text`, or npos.
    std::size_t find(std::string_view text) const;

    std::string packed_;
    std::size_t count_ = 0;
};

} // namespace perch::mqtt
