// `perch --check`, the container's health check, against a running perch, a port nobody listens
// on, a peer that accepts and never answers, and a peer that answers something other than MQTT.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

/// Longer than the check's own 5 s deadline, so the check ends by itself.
constexpr auto command_timeout = 15s;

/// A TCP socket listening on 127.0.0.1 at a port the kernel picks; closed on destruction.
class loopback_listener {
public:
    loopback_listener() {
        descriptor_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(descriptor_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        EXPECT_EQ(::listen(descriptor_, 4), 0);
        socklen_t length = sizeof address;
        ::getsockname(descriptor_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
    }
    ~loopback_listener() { close(); }
    loopback_listener(const loopback_listener&) = delete;
    loopback_listener& operator=(const loopback_listener&) = delete;

    int descriptor() const { return descriptor_; }
    std::uint16_t port() const { return port_; }
    void close() {
        if (descriptor_ >= 0) {
            ::close(descriptor_);
            descriptor_ = -1;
        }
    }

private:
    int descriptor_ = -1;
    std::uint16_t port_ = 0;
};

command_result run_check(const std::vector<std::string>& extra) {
    std::vector<std::string> argv{PERCH_BROKER_PATH, "--check"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, "", command_timeout);
}

TEST(HealthCheck, SucceedsAgainstARunningBroker) {
    broker_process broker(broker_kind::perch);
    const command_result result = run_check({"-p", std::to_string(broker.port())});
    EXPECT_TRUE(result.ending.is_success()) << describe(result.ending) << result.errors;
    EXPECT_NE(result.output.find("CONNACK return code 0"), std::string::npos) << result.output;
}

TEST(HealthCheck, ReadsThePortFromTheConfigFile) {
    broker_process broker(broker_kind::perch);
    const auto config = broker.scratch_directory() / "check.conf";
    write_file_text(config, "listener " + std::to_string(broker.port()) + " 127.0.0.1\n");
    const command_result result = run_check({"-c", config.string()});
    EXPECT_TRUE(result.ending.is_success()) << describe(result.ending) << result.errors;
}

TEST(HealthCheck, FailsWhenNothingListens) {
    std::uint16_t port = 0;
    {
        loopback_listener closed;
        port = closed.port();
    }
    const command_result result = run_check({"-p", std::to_string(port)});
    EXPECT_EQ(result.ending.exit_code, 1) << describe(result.ending);
    EXPECT_NE(result.errors.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << result.errors;
}

TEST(HealthCheck, FailsWhenThePeerAcceptsAndNeverAnswers) {
    // The kernel completes the TCP handshake from the backlog: a broker whose event loops are
    // stuck looks exactly like this.
    loopback_listener silent;
    const command_result result = run_check({"-p", std::to_string(silent.port())});
    EXPECT_EQ(result.ending.exit_code, 1) << describe(result.ending);
    EXPECT_FALSE(result.ending.was_killed_at_deadline);
    EXPECT_NE(result.errors.find("no CONNACK"), std::string::npos) << result.errors;
}

TEST(HealthCheck, FailsWhenThePeerDoesNotSpeakMqtt) {
    loopback_listener web;
    std::thread server([&web] {
        const int peer = ::accept(web.descriptor(), nullptr, nullptr);
        if (peer < 0) {
            return;
        }
        std::array<char, 256> request{};
        [[maybe_unused]] const auto ignored = ::read(peer, request.data(), request.size());
        const std::string answer = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        [[maybe_unused]] const auto written = ::write(peer, answer.data(), answer.size());
        ::close(peer);
    });
    const command_result result = run_check({"-p", std::to_string(web.port())});
    server.join();
    EXPECT_EQ(result.ending.exit_code, 1) << describe(result.ending);
    EXPECT_NE(result.errors.find("not a CONNACK"), std::string::npos) << result.errors;
}

TEST(HealthCheck, NeedsAPlainMqttListener) {
    temporary_directory directory;
    const auto config = directory.path() / "tls-only.conf";
    write_file_text(config, "listener 18883\nprotocol mqtt_tls\n");
    const command_result result = run_check({"-c", config.string()});
    EXPECT_EQ(result.ending.exit_code, 2) << describe(result.ending);
    EXPECT_NE(result.errors.find("plain MQTT listener"), std::string::npos) << result.errors;
}

} // namespace
} // namespace perch::integration
