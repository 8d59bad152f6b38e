// The web app's files on the real broker: a WebSocket listener with web_root answers plain HTTP
// requests with the folder's files (security headers, 404 outside it) while MQTT over WebSocket
// keeps working on the same port; a reload serves the folder's new files; a folder that cannot be
// read stops the start naming it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "broker_process.hpp"
#include "http_client.hpp"
#include <signal.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

std::string status_line(const std::string& raw) {
    return raw.substr(0, raw.find("\r\n"));
}

class WebFiles : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "the web app's files are perch's";
        }
        std::filesystem::create_directories(site_.path() / "assets");
        write_file_text(site_.path() / "index.html", "<!doctype html><title>chat</title>v1");
        write_file_text(site_.path() / "assets" / "app-0f.js", "export const version = 1;");
        websocket_port_ = free_loopback_port();
        broker_ = std::make_unique<broker_process>(broker_kind::perch,
                                                   "listener " + std::to_string(websocket_port_) +
                                                       " 127.0.0.1\nprotocol websocket\nweb_root " +
                                                       site_.path().string() + "\n");
    }

    void TearDown() override {
        if (!broker_) {
            return;
        }
        const process_exit ending = broker_->stop();
        EXPECT_TRUE(ending.is_success()) << describe(ending);
        if (HasFailure()) {
            std::cerr << broker_->log();
        }
    }

    temporary_directory site_;
    std::uint16_t websocket_port_ = 0;
    std::unique_ptr<broker_process> broker_;
};

TEST_F(WebFiles, ServesTheAppBesideMqttOverWebSocketOnOnePort) {
    const http_answer answer = http_get(websocket_port_, "/");
    const std::string& page = answer.raw;
    EXPECT_EQ(status_line(page), "HTTP/1.1 200 OK") << page;
    EXPECT_EQ(answer.body, "<!doctype html><title>chat</title>v1");
    EXPECT_NE(page.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos) << page;
    EXPECT_NE(page.find("Content-Security-Policy: default-src 'self'; script-src 'self';"),
              std::string::npos)
        << page;
    EXPECT_NE(page.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos) << page;

    const std::string script = http_get(websocket_port_, "/assets/app-0f.js").raw;
    EXPECT_EQ(status_line(script), "HTTP/1.1 200 OK") << script;
    EXPECT_NE(script.find("Cache-Control: public, max-age=31536000, immutable\r\n"),
              std::string::npos)
        << script;
    for (const std::string outside : {"/missing.html", "/../broker.conf", "/%2e%2e/broker.conf"}) {
        EXPECT_EQ(status_line(http_get(websocket_port_, outside).raw), "HTTP/1.1 404 Not Found")
            << outside;
    }

    // MQTT over WebSocket on the same port, as before: one client subscribes, another publishes.
    const std::string uri = "ws://127.0.0.1:" + std::to_string(websocket_port_) + "/mqtt";
    mqtt::async_client subscriber(uri, "web-files-subscriber");
    mqtt::async_client publisher(uri, "web-files-publisher");
    subscriber.start_consuming();
    ASSERT_TRUE(subscriber.connect()->wait_for(10s));
    ASSERT_TRUE(publisher.connect()->wait_for(10s));
    ASSERT_TRUE(subscriber.subscribe("web/check", 1)->wait_for(10s));
    ASSERT_TRUE(publisher.publish(mqtt::make_message("web/check", "over websocket", 1, false))
                    ->wait_for(10s));
    mqtt::const_message_ptr received;
    ASSERT_TRUE(subscriber.try_consume_message_for(&received, 10s));
    EXPECT_EQ(received->get_payload_str(), "over websocket");
    // Its own message at QoS 1: the PUBACK and the PUBLISH leave in one flush, as two WebSocket
    // messages (Paho C reads one packet per message and would lose the PUBLISH).
    ASSERT_TRUE(
        subscriber.publish(mqtt::make_message("web/check", "to myself", 1, false))->wait_for(10s));
    ASSERT_TRUE(subscriber.try_consume_message_for(&received, 10s));
    EXPECT_EQ(received->get_payload_str(), "to myself");
    publisher.disconnect()->wait_for(5s);
    subscriber.disconnect()->wait_for(5s);
}

TEST_F(WebFiles, AReloadServesTheFolderAsItIsNow) {
    ASSERT_EQ(http_get(websocket_port_, "/").body, "<!doctype html><title>chat</title>v1");
    write_file_text(site_.path() / "index.html", "<!doctype html><title>chat</title>v2");
    write_file_text(site_.path() / "new.txt", "added");
    ASSERT_EQ(::kill(broker_->pid(), SIGHUP), 0);
    std::string body;
    for (int attempt = 0; attempt < 500 && body != "added"; ++attempt) {
        std::this_thread::sleep_for(20ms);
        body = http_get(websocket_port_, "/new.txt").body;
    }
    EXPECT_EQ(body, "added");
    EXPECT_EQ(http_get(websocket_port_, "/").body, "<!doctype html><title>chat</title>v2");
}

TEST(WebFilesStart, AWebRootThatIsNoFolderStopsTheStartNamingIt) {
    if (broker_under_test() != broker_kind::perch) {
        GTEST_SKIP() << "the web app's files are perch's";
    }
    const std::uint16_t port = free_loopback_port();
    try {
        broker_process broker(
            broker_kind::perch,
            "listener " + std::to_string(port) +
                " 127.0.0.1\nprotocol websocket\nweb_root /nonexistent/perch-app\n");
        FAIL() << "perch started without its web_root";
    } catch (const std::runtime_error& refusal) {
        EXPECT_NE(std::string(refusal.what()).find("/nonexistent/perch-app"), std::string::npos)
            << refusal.what();
    }
}

} // namespace
} // namespace perch::integration
