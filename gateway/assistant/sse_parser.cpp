// The server-sent events decoder.
#include "gateway/assistant/sse_parser.hpp"

namespace perch::gateway::assistant {

bool sse_parser::handle_bytes(std::string_view bytes, std::vector<sse_event>& out) {
    if (has_failed_) {
        return false;
    }
    for (const char byte : bytes) {
        if (skip_line_feed_) {
            skip_line_feed_ = false;
            if (byte == '\n') {
                continue;
            }
        }
        if (byte == '\r' || byte == '\n') {
            skip_line_feed_ = byte == '\r';
            handle_line(line_, out);
            line_.clear();
            if (has_failed_) {
                return false;
            }
            continue;
        }
        if (line_.size() >= max_line_bytes_) {
            has_failed_ = true;
            return false;
        }
        line_.push_back(byte);
    }
    return true;
}

void sse_parser::handle_line(std::string_view line, std::vector<sse_event>& out) {
    if (line.empty()) {
        if (has_data_) {
            out.push_back(std::move(pending_));
        }
        pending_ = sse_event{};
        has_data_ = false;
        return;
    }
    if (line.front() == ':') {
        return;
    }
    const std::size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (value.starts_with(" ")) {
        value.remove_prefix(1);
    }
    if (field == "data") {
        if (pending_.data.size() + value.size() + 1 > max_line_bytes_) {
            has_failed_ = true;
            return;
        }
        if (has_data_) {
            pending_.data.push_back('\n');
        }
        pending_.data.append(value);
        has_data_ = true;
    } else if (field == "event") {
        pending_.type = value.empty() ? "message" : std::string(value);
    }
}

} // namespace perch::gateway::assistant
