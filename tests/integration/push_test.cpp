// Web Push end to end (docs/CHAT.md "Web Push"): the perch binary sends to a push service
// stand-in on 127.0.0.1 (plain HTTP, allowed by push_allow_insecure_endpoints) that checks each
// request's VAPID token against the key push_key gave, and decrypts its body with the
// subscription's private key and auth secret, as a browser would. The tests read what it says:
// no text without push_preview, the text with it, nothing while the recipient is connected, and a
// subscription deleted when the push service answers 410.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/vector_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

#include "gateway/push/web_push_crypto.hpp"

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include "http_client.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;
using tcp = asio::ip::tcp;
namespace web_push = gateway::push;

/// One request the stand-in received and what it found in it.
struct received_push {
    std::string target;
    std::string ttl;
    std::string content_encoding;
    /// The VAPID token verified with the key in the header.
    bool is_signature_valid = false;
    std::string public_key;
    std::optional<web_push::vapid_claims> claims;
    http::request<http::vector_body<std::uint8_t>>::body_type::value_type body;
};

/// A push service on 127.0.0.1: answers `status_for(target)` (201 unless set) and keeps every
/// request. One connection at a time, on its own thread.
class push_service_stand_in {
public:
    push_service_stand_in()
        : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        thread_ = std::thread([this] { serve(); });
    }
    ~push_service_stand_in() {
        is_stopping_ = true;
        // Wakes the blocking accept.
        boost::system::error_code ignored;
        tcp::socket poke(io_);
        poke.connect(acceptor_.local_endpoint(), ignored);
        thread_.join();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::string endpoint(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port()) + path;
    }
    void answer(const std::string& target, unsigned status) {
        std::lock_guard lock(mutex_);
        statuses_[target] = status;
    }
    /// Waits until `count` requests arrived (at most 10 s) and returns them all.
    std::vector<received_push> wait_for(std::size_t count) {
        std::unique_lock lock(mutex_);
        arrived_.wait_for(lock, 10s, [&] { return received_.size() >= count; });
        return received_;
    }

private:
    void serve() {
        while (true) {
            tcp::socket socket(io_);
            boost::system::error_code error;
            acceptor_.accept(socket, error);
            if (is_stopping_ || error) {
                return;
            }
            boost::beast::flat_buffer buffer;
            http::request<http::vector_body<std::uint8_t>> request;
            http::read(socket, buffer, request, error);
            if (error) {
                continue;
            }
            received_push push;
            push.target = std::string(request.target());
            push.ttl = std::string(request["TTL"]);
            push.content_encoding = std::string(request[http::field::content_encoding]);
            push.body = request.body();
            const std::string authorization(request[http::field::authorization]);
            const std::size_t token_at = authorization.find("t=");
            const std::size_t key_at = authorization.find(", k=");
            if (authorization.starts_with("vapid ") && token_at != std::string::npos &&
                key_at != std::string::npos) {
                push.public_key = authorization.substr(key_at + 4);
                const auto key = web_push::base64url_decode(push.public_key);
                if (key) {
                    push.claims = web_push::verify_vapid_token(
                        authorization.substr(token_at + 2, key_at - token_at - 2), *key);
                    push.is_signature_valid = push.claims.has_value();
                }
            }
            http::response<http::string_body> response;
            {
                std::lock_guard lock(mutex_);
                const auto status = statuses_.find(push.target);
                response.result(status == statuses_.end() ? 201 : status->second);
            }
            response.version(11);
            response.prepare_payload();
            http::write(socket, response, error);
            socket.shutdown(tcp::socket::shutdown_both, error);
            {
                std::lock_guard lock(mutex_);
                received_.push_back(std::move(push));
            }
            arrived_.notify_all();
        }
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::atomic<bool> is_stopping_{false};
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::map<std::string, unsigned> statuses_;
    std::vector<received_push> received_;
    std::thread thread_;
};

class PushTest : public chat_fixture {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "perch's chat layer only";
        }
        chat_fixture::SetUp();
        // The fixture started a broker without push: this one replaces it.
        ASSERT_TRUE(broker_->stop().is_success());
        http_port_ = free_loopback_port();
        start_broker("push true\npush_allow_insecure_endpoints true\n"
                     "push_contact mailto:ops@example.org\npush_ttl_seconds 600\n"
                     "listener " +
                     std::to_string(http_port_) + " 127.0.0.1\nprotocol http\n");
    }

    /// The value of `series` on /metrics once it reaches `wanted` (the sender counts after the
    /// push service answered), or its last value after 10 s.
    double metric_reaching(const std::string& series, double wanted) {
        double value = -1;
        for (int tries = 0; tries < 200; ++tries) {
            const http_answer answer = http_get(http_port_, "/metrics");
            value = sample(answer.body, series).value_or(-1);
            if (value == wanted) {
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
        return value;
    }

    json expect_ok(chat_client& client, const std::string& user, const json& request) {
        json reply = control(client, user, request);
        EXPECT_EQ(reply.value("ok", false), true) << request.dump() << " -> " << reply.dump();
        return reply;
    }

    /// Subscribes bob's "laptop" to the stand-in at `path` and returns the server's key.
    std::string subscribe_bob(chat_client& bob, const std::string& path) {
        const json key = expect_ok(bob, "bob", {{"op", "push_key"}});
        expect_ok(bob, "bob",
                  {{"op", "push_subscribe"},
                   {"device", "laptop"},
                   {"endpoint", service_.endpoint(path)},
                   {"keys",
                    {{"p256dh", web_push::base64url_encode(browser_.public_key.data(),
                                                           browser_.public_key.size())},
                     {"auth", web_push::base64url_encode(auth_)}}}});
        return key.value("public_key", "");
    }

    /// What the browser shows for `push`: the decrypted notification's JSON.
    json shown(const received_push& push) {
        const auto text = web_push::decrypt_message(push.body, browser_, auth_);
        EXPECT_TRUE(text.has_value()) << "the body does not decrypt";
        return text ? json::parse(*text, nullptr, false) : json::object();
    }

    std::uint16_t http_port_ = 0;
    push_service_stand_in service_;
    /// The subscribing browser's key pair and auth secret.
    web_push::p256_key_pair browser_ = web_push::generate_key_pair();
    web_push::bytes auth_ = web_push::bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
};

TEST_F(PushTest, ADirectMessageToAnOfflineUserSaysOnlyWhoWrote) {
    std::string server_key;
    {
        auto bob = connected("bob", mqtt_5);
        server_key = subscribe_bob(*bob, "/push/bob");
        bob->disconnect();
    }
    wait_for_reload();
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "the secret plan", 1), mqtt::ReasonCode::SUCCESS);

    const auto received = service_.wait_for(1);
    ASSERT_EQ(received.size(), 1U);
    const received_push& push = received[0];
    EXPECT_EQ(push.target, "/push/bob");
    EXPECT_EQ(push.content_encoding, "aes128gcm");
    EXPECT_EQ(push.ttl, "600");
    EXPECT_TRUE(push.is_signature_valid);
    EXPECT_EQ(push.public_key, server_key);
    ASSERT_TRUE(push.claims.has_value());
    EXPECT_EQ(push.claims->audience, "http://127.0.0.1:" + std::to_string(service_.port()));
    EXPECT_EQ(push.claims->subject, "mailto:ops@example.org");
    const auto now_s =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    EXPECT_GT(push.claims->expires_unix_s, now_s);
    EXPECT_LE(push.claims->expires_unix_s, now_s + 24 * 3600);

    const json notification = shown(push);
    EXPECT_EQ(notification.value("body", ""), "New message from alice");
    EXPECT_EQ(notification.value("conversation", ""), "dm/alice/bob");
    EXPECT_EQ(notification.dump().find("secret"), std::string::npos);
}

TEST_F(PushTest, AMentionNotifiesAndPreviewSendsTheText) {
    {
        auto bob = connected("bob", mqtt_5);
        subscribe_bob(*bob, "/push/bob");
        bob->disconnect();
    }
    wait_for_reload();
    auto alice = connected("alice", mqtt_5);
    // A room message without a mention notifies nobody; one naming bob does.
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "lunch at noon", 1),
              mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "@bob, lunch?", 1),
              mqtt::ReasonCode::SUCCESS);
    auto received = service_.wait_for(1);
    ASSERT_EQ(received.size(), 1U);
    EXPECT_EQ(shown(received[0]).value("body", ""), "alice mentioned you in #lobby");

    {
        auto bob = connected("bob", mqtt_5);
        expect_ok(*bob, "bob", {{"op", "push_preview"}, {"preview", "on"}});
        bob->disconnect();
    }
    wait_for_reload();
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "see you there", 1), mqtt::ReasonCode::SUCCESS);
    received = service_.wait_for(2);
    ASSERT_EQ(received.size(), 2U);
    EXPECT_EQ(shown(received[1]).value("body", ""), "see you there");
}

TEST_F(PushTest, NothingIsSentWhileTheRecipientIsConnected) {
    auto bob = connected("bob", mqtt_5);
    subscribe_bob(*bob, "/push/bob");
    expect_ok(*bob, "bob", {{"op", "push_preview"}, {"preview", "on"}});
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "while you are here", 1),
              mqtt::ReasonCode::SUCCESS);
    ASSERT_TRUE(bob->next_on("chat/dm/bob/alice").has_value());
    bob->disconnect();
    wait_for_reload();
    // One sender thread takes notices in order: had the first been sent, it would come first.
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "while you are away", 1),
              mqtt::ReasonCode::SUCCESS);
    const auto received = service_.wait_for(1);
    ASSERT_EQ(received.size(), 1U);
    EXPECT_EQ(shown(received[0]).value("body", ""), "while you are away");
}

TEST_F(PushTest, ASubscriptionItsServiceReportsGoneIsDeleted) {
    service_.answer("/push/gone", 410);
    {
        auto bob = connected("bob", mqtt_5);
        subscribe_bob(*bob, "/push/gone");
        bob->disconnect();
    }
    EXPECT_EQ(chat_->push_state("bob").subscriptions.size(), 1U);
    wait_for_reload();
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "hello?", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(service_.wait_for(1).size(), 1U);
    // The deletion follows the answer: wait for it, boundedly.
    for (int tries = 0; tries < 100 && !chat_->push_state("bob").subscriptions.empty(); ++tries) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(chat_->push_state("bob").subscriptions.empty());
}

TEST_F(PushTest, MetricsCountSentFailedAndGoneNotifications) {
    EXPECT_EQ(metric_reaching("perch_push_subscribed_users", 0), 0);
    {
        auto bob = connected("bob", mqtt_5);
        subscribe_bob(*bob, "/push/metrics");
        bob->disconnect();
    }
    EXPECT_EQ(metric_reaching("perch_push_subscribed_users", 1), 1);
    wait_for_reload();
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "one", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(service_.wait_for(1).size(), 1U);
    EXPECT_EQ(metric_reaching("perch_push_sent_total", 1), 1);
    // 400: refused for good, not retried; the subscription stays.
    service_.answer("/push/metrics", 400);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "two", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(service_.wait_for(2).size(), 2U);
    EXPECT_EQ(metric_reaching("perch_push_failed_total", 1), 1);
    // 410: gone, deleted, and no longer counted as a subscriber.
    service_.answer("/push/metrics", 410);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "three", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(service_.wait_for(3).size(), 3U);
    EXPECT_EQ(metric_reaching("perch_push_gone_total", 1), 1);
    EXPECT_EQ(metric_reaching("perch_push_subscribed_users", 0), 0);
    EXPECT_EQ(metric_reaching("perch_push_queued", 0), 0);
    EXPECT_EQ(metric_reaching("perch_push_dropped_total", 0), 0);
}

TEST_F(PushTest, SubscriptionsAreValidated) {
    auto bob = connected("bob", mqtt_5);
    const auto key =
        web_push::base64url_encode(browser_.public_key.data(), browser_.public_key.size());
    const auto refused = [&](json request) {
        request["op"] = "push_subscribe";
        request["device"] = "laptop";
        const json reply = control(*bob, "bob", request);
        EXPECT_FALSE(reply.value("ok", true)) << request.dump();
        return reply.value("error", "");
    };
    // http only on loopback, even with the test flag.
    EXPECT_NE(refused({{"endpoint", "http://push.example.net/x"},
                       {"keys", {{"p256dh", key}, {"auth", web_push::base64url_encode(auth_)}}}})
                  .find("https"),
              std::string::npos);
    EXPECT_NE(refused({{"endpoint", service_.endpoint("/x")},
                       {"keys",
                        {{"p256dh", key.substr(1)}, {"auth", web_push::base64url_encode(auth_)}}}})
                  .find("p256dh"),
              std::string::npos);
    EXPECT_NE(refused({{"endpoint", service_.endpoint("/x")},
                       {"keys", {{"p256dh", key}, {"auth", "AAAA"}}}})
                  .find("auth"),
              std::string::npos);
    EXPECT_TRUE(chat_->push_state("bob").subscriptions.empty());
    const json reply = control(*bob, "bob", {{"op", "push_unsubscribe"}, {"device", "phone"}});
    EXPECT_EQ(reply.value("error", ""), "no subscription for this device") << reply.dump();
}

} // namespace
} // namespace perch::integration
