// One chat completions call over HTTP or HTTPS (Boost.Beast on the caller's event loop; wolfSSL
// for https), with a deadline and size bounds, plain or streamed (server-sent events assembled
// into one answer, with progress reports). No thread per request: everything runs as handlers on
// the executor given. Knows nothing about MQTT or the chat layer.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "gateway/assistant/completion_protocol.hpp"
#include "gateway/client/tls_client_stream.hpp"
#include "gateway/common/endpoint_url.hpp"

namespace perch::gateway::assistant {

/// What one call sends and how long and large it may be.
struct completion_call_options {
    endpoint_url url;
    /// Sent as "Authorization: Bearer KEY" when not empty. Never logged, never in a failure.
    std::string api_key;
    /// The JSON request (build_completion_request); its "stream" must match is_streamed.
    std::string body;
    bool is_streamed = false;
    /// The whole call, from name resolution to the last byte.
    std::chrono::milliseconds timeout{30'000};
    /// The largest response body accepted (and the largest assembled answer).
    std::size_t max_response_bytes = 256 * 1024;
};

/// Receives the answer assembled so far while a streamed call runs (not for plain calls).
using completion_progress = std::function<void(const std::string& partial_answer)>;

/// Receives the outcome, exactly once.
using completion_done = std::function<void(completion_result)>;

/// A running call that can be ended early.
class completion_cancel {
public:
    virtual ~completion_cancel() = default;
    /// Ends the call now, on its executor's thread: `done` receives a failure of kind cancelled
    /// (unless it already ran). Nothing else of the call runs afterwards.
    virtual void cancel() = 0;
};

/// Starts a call on `executor`. `tls` must be given for an https URL and outlive the call; it is
/// ignored for http. Every handler runs on `executor`. The call keeps itself alive until `done`;
/// the returned handle expires then.
std::weak_ptr<completion_cancel> start_completion_call(boost::asio::any_io_executor executor,
                                                       const client::tls_client_context* tls,
                                                       completion_call_options options,
                                                       completion_progress progress,
                                                       completion_done done);

} // namespace perch::gateway::assistant
