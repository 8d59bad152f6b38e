// The sending side of Web Push (RFC 8030 over RFC 8291 and RFC 8292): a bounded queue of
// notices, drained by one thread of its own that reads the recipient's subscriptions from the
// chat store, encrypts the notification for each and POSTs it to the push service with a VAPID
// token. Gone subscriptions (404, 410) are deleted; 429 and 5xx are retried a few times.
//
// Theory of operation. submit() runs on the workers and only queues (never blocks on I/O); the
// thread takes one notice at a time and makes each call on an io_context of its own with a
// deadline, so that a slow push service delays notifications, never messages.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/push/push_notice.hpp"
#include "gateway/push/push_subscribers.hpp"
#include "gateway/push/web_push_crypto.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway::client {
class tls_client_context;
}

namespace perch::gateway::push {

/// The sender's settings (config keys push_*).
struct push_sender_settings {
    /// The VAPID "sub" claim: a mailto: or https: contact.
    std::string contact = "mailto:admin@localhost";
    /// The TTL header: how long the push service keeps an undelivered notification.
    std::uint32_t ttl_seconds = 86'400;
    /// Accept http:// endpoints on loopback addresses (tests only).
    bool allow_insecure_endpoints = false;
    /// CA file for https push services; empty: the system's bundle.
    std::string ca_file;
    /// Notices waiting beyond this many are dropped (counted).
    std::size_t max_queued = 1'000;
    /// One POST, from name resolution to the answer.
    std::chrono::milliseconds timeout{10'000};
    /// Tries per subscription when the push service answers 429 or 5xx or cannot be reached.
    unsigned max_attempts = 3;
    /// The wait before the second try; doubled before each further one.
    std::chrono::milliseconds first_retry_delay{1'000};
};

/// What the sender did, for metrics.
struct push_counters {
    /// Notifications the push service accepted (2xx).
    std::atomic<std::uint64_t> sent{0};
    /// Notifications given up after their tries, or refused otherwise.
    std::atomic<std::uint64_t> failed{0};
    /// Subscriptions deleted because their push service reported them gone (404, 410).
    std::atomic<std::uint64_t> gone{0};
    /// Notices dropped because the queue was full.
    std::atomic<std::uint64_t> dropped{0};
};

/// The notification text: the message when `is_preview_allowed`, otherwise only who wrote
/// ("New message from alice", "alice mentioned you in #kitchen").
std::string notification_body(const push_notice& notice, bool is_preview_allowed);

/// The JSON a service worker receives: {"title":"perch","body":...,"conversation":...}.
std::string notification_payload(const push_notice& notice, bool is_preview_allowed);

/// The origin of a push endpoint, the VAPID "aud" claim: "https://host[:port]".
std::string endpoint_origin(std::string_view endpoint);

/// The sender. Thread-safe; start() once, stop() (or the destructor) ends the thread.
class push_sender {
public:
    /// `store` must outlive the sender.
    push_sender(store::chat_store& store, p256_key_pair vapid_key, push_sender_settings settings);
    ~push_sender();
    push_sender(const push_sender&) = delete;
    push_sender& operator=(const push_sender&) = delete;

    void start();
    /// Ends the thread after the notice in hand; queued notices are dropped.
    void stop();

    /// Queues `notice`; false (and counted as dropped) when the queue is full or stopped.
    bool submit(push_notice notice);

    const push_counters& counters() const { return counters_; }
    /// Notices waiting for the thread.
    std::size_t queued() const;
    /// Where a subscription found gone is forgotten too; set before start(), may be null.
    void set_subscribers(push_subscribers* subscribers) { subscribers_ = subscribers; }

private:
    void run();
    void deliver(const push_notice& notice);
    /// One subscription, with its tries; true when the push service accepted it.
    void deliver_to(const store::push_subscription_record& subscription, const std::string& body);

    store::chat_store& store_;
    const p256_key_pair vapid_key_;
    const push_sender_settings settings_;
    std::unique_ptr<client::tls_client_context> tls_;
    push_counters counters_;
    push_subscribers* subscribers_ = nullptr;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<push_notice> queue_;
    bool is_stopping_ = false;
    std::thread thread_;
};

} // namespace perch::gateway::push
