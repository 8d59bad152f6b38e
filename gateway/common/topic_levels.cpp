// Splitting a topic name or filter into its levels.
#include "gateway/common/topic_levels.hpp"

namespace perch::gateway {

std::vector<std::string_view> split_topic_levels(std::string_view topic) {
    std::vector<std::string_view> levels;
    std::size_t start = 0;
    while (true) {
        const std::size_t slash = topic.find('/', start);
        if (slash == std::string_view::npos) {
            levels.push_back(topic.substr(start));
            return levels;
        }
        levels.push_back(topic.substr(start, slash - start));
        start = slash + 1;
    }
}

} // namespace perch::gateway
