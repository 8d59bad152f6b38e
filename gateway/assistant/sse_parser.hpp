// Server-sent events (the text/event-stream format streaming completions arrive in), decoded
// incrementally from bytes that may be split anywhere. Knows nothing about JSON or HTTP.
//
// Theory of operation. Bytes accumulate into the current line; a line ends at LF, CRLF or CR.
// A "data" line appends its value to the pending event's data (lines joined with LF); an
// "event" line sets its type; a line starting with ':' is a comment; other fields are ignored.
// An empty line dispatches the pending event if it has data. A line longer than the limit
// poisons the parser: it reports the error once and ignores everything after it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace perch::gateway::assistant {

/// One dispatched event.
struct sse_event {
    /// The "event" field; "message" when the stream gave none.
    std::string type = "message";
    std::string data;
    bool operator==(const sse_event&) const = default;
};

/// The incremental decoder.
class sse_parser {
public:
    /// `max_line_bytes` bounds one line and one event's data.
    explicit sse_parser(std::size_t max_line_bytes = 64 * 1024) : max_line_bytes_(max_line_bytes) {}

    /// Decodes `bytes` and appends every event they complete to `out`. Returns false (now and
    /// on every later call) once a line or an event's data exceeded the limit.
    bool handle_bytes(std::string_view bytes, std::vector<sse_event>& out);

    /// True once the limit was exceeded.
    bool has_failed() const { return has_failed_; }

private:
    void handle_line(std::string_view line, std::vector<sse_event>& out);

    std::size_t max_line_bytes_;
    std::string line_;
    sse_event pending_;
    bool has_data_ = false;
    /// The previous chunk ended in CR: an LF starting the next one belongs to that line end.
    bool skip_line_feed_ = false;
    bool has_failed_ = false;
};

} // namespace perch::gateway::assistant
