// The HTTP admin API (docs/ADMIN.md): users, rooms and bans managed by a user with the admin
// flag, and an overview of the broker's figures. Knows no socket: a request goes in, a response
// comes out through a callback, so that every listener serves the same code.
//
// Theory of operation. handle() checks the credentials (http_login: off the caller's thread,
// counted in the backoff, bans refused) and hands the request to the API's own thread, which
// checks the admin flag, reads the directory from the store, writes a change with its audit entry
// (the admin as actor) in one transaction, then has the chat layer reload its directory before it
// answers: when a ban's response arrives, the banned user's sessions have been told to end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/chat/chat_service.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway {

using admin_http_request = boost::beast::http::request<boost::beast::http::string_body>;
using admin_http_response = boost::beast::http::response<boost::beast::http::string_body>;

/// The broker's figures the overview shows, from the same counters as the metrics.
struct admin_figures {
    std::uint64_t uptime_seconds = 0;
    /// Network connections now.
    std::uint64_t connections = 0;
    /// Sessions, connected or not.
    std::uint64_t sessions = 0;
    /// PUBLISH packets received and sent since start.
    std::uint64_t messages_received = 0;
    std::uint64_t messages_sent = 0;
    /// Messages and bytes queued for sessions (offline or over their window).
    std::uint64_t queued_messages = 0;
    std::uint64_t queued_bytes = 0;
    /// Bytes waiting in connections' output buffers.
    std::uint64_t output_queue_bytes = 0;
    /// The store: whether it accepts writes (with why not), and its operations waiting.
    bool is_store_healthy = true;
    std::string store_problem;
    std::uint64_t store_pending_operations = 0;
};

/// True when `target` (query included) is one the admin API answers: `/api/admin` or
/// `/api/admin/...`.
bool is_admin_target(std::string_view target);

/// The admin API. Every member is thread-safe.
class admin_api {
public:
    /// The largest request body accepted (413 past it).
    static constexpr std::size_t max_body_bytes = 16 * 1024;
    /// How many audit entries GET /api/admin/audit shows at most.
    static constexpr std::size_t audit_page = 200;

    /// Manages `chat`'s users, rooms and bans; `figures` (called on the API's thread) feeds the
    /// overview.
    admin_api(chat_service& chat, std::function<admin_figures()> figures);
    ~admin_api();
    admin_api(const admin_api&) = delete;
    admin_api& operator=(const admin_api&) = delete;

    /// Stops the API's thread after the requests queued (idempotent); later requests are answered
    /// 503.
    void stop();

    /// The JSON answer to a request whose body passed max_body_bytes (413).
    admin_http_response too_large(const admin_http_request& request) const;

    /// Answers `request` (is_admin_target) from `remote_address` (`host:port`): 401 with
    /// WWW-Authenticate without good credentials, 403 for a banned user or one without the admin
    /// flag, otherwise the endpoint's answer (docs/ADMIN.md). `done` runs once, on any thread.
    void handle(admin_http_request request, std::string remote_address,
                std::function<void(admin_http_response)> done);

private:
    /// Runs `work` on the API's thread, or at once when stopped.
    void post(std::function<void()> work);
    void run();
    /// The answer to `request` of the admin `admin` (the admin flag checked). The API's thread.
    admin_http_response serve(const admin_http_request& request, const std::string& admin);
    admin_http_response serve_user(const admin_http_request& request, const std::string& admin,
                                   const std::string& name, std::string_view rest);
    admin_http_response overview(const admin_http_request& request);
    admin_http_response list_users(const admin_http_request& request);
    admin_http_response create_user(const admin_http_request& request, const std::string& admin);
    admin_http_response ban_user(const admin_http_request& request, const std::string& admin,
                                 const std::string& name);
    admin_http_response set_admin(const admin_http_request& request, const std::string& admin,
                                  const std::string& name);
    admin_http_response list_rooms(const admin_http_request& request);
    admin_http_response list_bans(const admin_http_request& request);
    admin_http_response audit(const admin_http_request& request);
    /// Applies `changes` with the audit entry (`room`, `admin`, `action`, `target`, `detail`) in
    /// one transaction, then reloads the chat directory; returns the store's result.
    store::directory_result apply(std::vector<store::directory_change> changes,
                                  const std::string& admin, std::string room, std::string action,
                                  std::string target, std::string detail = "");

    chat_service& chat_;
    std::function<admin_figures()> figures_;

    /// The previous overview's counts, for the rates. Lock: rates_mutex_.
    std::mutex rates_mutex_;
    std::chrono::steady_clock::time_point last_sample_at_{};
    std::uint64_t last_received_ = 0;
    std::uint64_t last_sent_ = 0;
    double received_per_second_ = 0;
    double sent_per_second_ = 0;

    // The API's thread. Lock: queue_mutex_.
    std::mutex queue_mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    bool is_stopping_ = false;
    std::thread thread_;
};

} // namespace perch::gateway
