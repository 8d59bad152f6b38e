// The Web Push sender: its queue and thread, the notification's text, and one POST per
// subscription over Beast (wolfSSL for https through the assistant's client stream).
#include "gateway/push/push_sender.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/vector_body.hpp>
#include <boost/beast/http/write.hpp>

#include "gateway/client/tls_client_stream.hpp"
#include "gateway/common/endpoint_url.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway::push {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using json = nlohmann::json;

/// What one POST got: the status, or 0 with the reason it got none.
struct post_outcome {
    unsigned status = 0;
    std::string error;
};

/// One POST of `request` to `url` on a private io_context, ended by `timeout`.
class post_call {
public:
    post_call(const endpoint_url& url, http::request<http::vector_body<std::uint8_t>> request,
              const client::tls_client_context* tls, std::chrono::milliseconds timeout)
        : url_(url), request_(std::move(request)), tls_(tls), timer_(io_), resolver_(io_),
          socket_(io_) {
        timer_.expires_after(timeout);
    }

    post_outcome run() {
        timer_.async_wait([this](const error_code& error) {
            if (!error && outcome_.status == 0 && outcome_.error.empty()) {
                outcome_.error = "no answer in time";
                abort();
            }
        });
        resolver_.async_resolve(
            url_.host, std::to_string(url_.port),
            [this](const error_code& error, const tcp::resolver::results_type& found) {
                on_resolved(error, found);
            });
        io_.run();
        return outcome_;
    }

private:
    void fail(std::string what, const error_code& error) {
        if (outcome_.error.empty()) {
            outcome_.error = std::move(what) + ": " + error.message();
        }
        abort();
    }
    void abort() {
        timer_.cancel();
        resolver_.cancel();
        error_code ignored;
        if (tls_stream_) {
            tls_stream_->close();
        } else {
            socket_.close(ignored);
        }
    }
    void on_resolved(const error_code& error, const tcp::resolver::results_type& found) {
        if (error) {
            fail("cannot resolve " + url_.host, error);
            return;
        }
        asio::async_connect(socket_, found,
                            [this](const error_code& connect_error, const tcp::endpoint&) {
                                if (connect_error) {
                                    fail("cannot connect", connect_error);
                                    return;
                                }
                                if (!url_.is_tls) {
                                    send(socket_);
                                    return;
                                }
                                tls_stream_ = std::make_unique<client::tls_client_stream>(
                                    std::move(socket_), *tls_, url_.host);
                                tls_stream_->async_handshake([this](const error_code& tls_error) {
                                    if (tls_error) {
                                        fail("TLS failed", tls_error);
                                        return;
                                    }
                                    send(*tls_stream_);
                                });
                            });
    }
    template <typename Stream> void send(Stream& stream) {
        http::async_write(stream, request_, [this, &stream](const error_code& error, std::size_t) {
            if (error) {
                fail("cannot send", error);
                return;
            }
            http::async_read(stream, buffer_, response_,
                             [this](const error_code& read_error, std::size_t) {
                                 if (read_error) {
                                     fail("cannot read the answer", read_error);
                                     return;
                                 }
                                 outcome_.status = response_.result_int();
                                 abort();
                             });
        });
    }

    endpoint_url url_;
    http::request<http::vector_body<std::uint8_t>> request_;
    const client::tls_client_context* tls_;
    asio::io_context io_;
    asio::steady_timer timer_;
    tcp::resolver resolver_;
    tcp::socket socket_;
    std::unique_ptr<client::tls_client_stream> tls_stream_;
    boost::beast::flat_buffer buffer_;
    http::response<http::string_body> response_;
    post_outcome outcome_;
};

std::uint64_t unix_now_s() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

} // namespace

std::string notification_body(const push_notice& notice, bool is_preview_allowed) {
    if (is_preview_allowed) {
        return notice.text;
    }
    if (notice.room.empty()) {
        return "New message from " + notice.sender;
    }
    return notice.sender + " mentioned you in #" + notice.room;
}

std::string notification_payload(const push_notice& notice, bool is_preview_allowed) {
    std::string body = notification_body(notice, is_preview_allowed);
    // The record holds at most max_plaintext_bytes; a long text is cut (the replace handler
    // below turns a cut UTF-8 sequence into U+FFFD).
    constexpr std::size_t max_body_bytes = 2'000;
    if (body.size() > max_body_bytes) {
        body.resize(max_body_bytes);
    }
    const json payload = {
        {"title", "perch"}, {"body", body}, {"conversation", notice.conversation}};
    return payload.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string endpoint_origin(std::string_view endpoint) {
    std::string problem;
    const auto url = parse_endpoint_url(endpoint, problem);
    if (!url) {
        return {};
    }
    return std::string(url->is_tls ? "https://" : "http://") + url->host_header();
}

push_sender::push_sender(store::chat_store& store, p256_key_pair vapid_key,
                         push_sender_settings settings)
    : store_(store), vapid_key_(vapid_key), settings_(std::move(settings)) {
    client::tls_client_options options;
    options.ca_file = settings_.ca_file;
    tls_ = std::make_unique<client::tls_client_context>(options);
}

push_sender::~push_sender() {
    stop();
}

void push_sender::start() {
    thread_ = std::thread([this] { run(); });
}

void push_sender::stop() {
    {
        std::lock_guard lock(mutex_);
        is_stopping_ = true;
        queue_.clear();
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

bool push_sender::submit(push_notice notice) {
    {
        std::lock_guard lock(mutex_);
        if (is_stopping_ || queue_.size() >= settings_.max_queued) {
            counters_.dropped.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        queue_.push_back(std::move(notice));
    }
    wake_.notify_one();
    return true;
}

std::size_t push_sender::queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

void push_sender::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        wake_.wait(lock, [this] { return is_stopping_ || !queue_.empty(); });
        if (is_stopping_) {
            return;
        }
        push_notice notice = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        try {
            deliver(notice);
        } catch (const std::exception&) {
            counters_.failed.fetch_add(1, std::memory_order_relaxed);
        }
        lock.lock();
    }
}

void push_sender::deliver(const push_notice& notice) {
    const store::push_state_record state = store_.push_state(notice.recipient);
    if (state.subscriptions.empty()) {
        return;
    }
    const std::string payload = notification_payload(notice, state.is_preview_allowed);
    for (const store::push_subscription_record& subscription : state.subscriptions) {
        deliver_to(subscription, payload);
    }
}

void push_sender::deliver_to(const store::push_subscription_record& subscription,
                             const std::string& payload) {
    std::string problem;
    const auto url = parse_endpoint_url(subscription.endpoint, problem);
    const auto ua_public = base64url_decode(subscription.p256dh);
    const auto auth = base64url_decode(subscription.auth);
    if (!url || !ua_public || !auth) {
        counters_.failed.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const vapid_claims claims{endpoint_origin(subscription.endpoint), unix_now_s() + 12 * 3600,
                              settings_.contact};
    std::chrono::milliseconds delay = settings_.first_retry_delay;
    std::string last_error;
    for (unsigned attempt = 0; attempt < std::max(1U, settings_.max_attempts); ++attempt) {
        if (attempt > 0) {
            // A wait that stop() ends early.
            std::unique_lock lock(mutex_);
            if (wake_.wait_for(lock, delay, [this] { return is_stopping_; })) {
                return;
            }
            delay *= 2;
        }
        http::request<http::vector_body<std::uint8_t>> request;
        request.method(http::verb::post);
        request.target(url->base_path.empty() ? "/" : url->base_path);
        request.version(11);
        request.set(http::field::host, url->host_header());
        request.set(http::field::user_agent, "perch");
        request.set(http::field::content_type, "application/octet-stream");
        request.set(http::field::content_encoding, "aes128gcm");
        request.set("TTL", std::to_string(settings_.ttl_seconds));
        request.set("Urgency", "high");
        request.set(http::field::authorization, vapid_authorization(claims, vapid_key_));
        // A fresh salt and key per try: a record is never encrypted twice with one key.
        request.body() = encrypt_message(payload, *ua_public, *auth);
        request.prepare_payload();
        post_call call(*url, std::move(request), tls_.get(), settings_.timeout);
        const post_outcome outcome = call.run();
        if (outcome.status >= 200 && outcome.status < 300) {
            counters_.sent.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (outcome.status == 404 || outcome.status == 410) {
            counters_.gone.fetch_add(1, std::memory_order_relaxed);
            store_.remove_push_endpoint(subscription.endpoint, {});
            if (subscribers_ != nullptr) {
                subscribers_->remove(subscription.user, subscription.device);
            }
            return;
        }
        last_error = outcome.status != 0 ? "HTTP " + std::to_string(outcome.status) : outcome.error;
        const bool is_retryable =
            outcome.status == 0 || outcome.status == 429 || outcome.status >= 500;
        if (!is_retryable) {
            break;
        }
    }
    counters_.failed.fetch_add(1, std::memory_order_relaxed);
    store_.set_push_error(subscription.endpoint, last_error, {});
}

} // namespace perch::gateway::push
