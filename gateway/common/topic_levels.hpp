// Splitting a topic name or filter into its levels, for the chat rules and the acl alike.
#pragma once

#include <string_view>
#include <vector>

namespace perch::gateway {

/// The levels of a topic name or filter split at '/' ("a//b" has an empty middle level).
std::vector<std::string_view> split_topic_levels(std::string_view topic);

} // namespace perch::gateway
