// Debian's Mosquitto as an upstream broker for the bridge tests (docs/BRIDGES.md): on a free
// loopback port, anonymous clients allowed, with persistence in its own folder so that it can be
// stopped and started again on the same port with the same sessions.
#pragma once

#include <chrono>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {

/// True when something accepts TCP connections on the loopback `port`.
inline bool accepts_tcp(std::uint16_t port) {
    const int descriptor = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool is_open =
        ::connect(descriptor, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(descriptor);
    return is_open;
}

/// Debian's Mosquitto on a fixed loopback port, with persistence in its own folder, so that it can
/// be stopped and started again on the same port with the same sessions.
/// Debian's Mosquitto on a fixed loopback port (see above).
class upstream_broker {
public:
    /// Mosquitto with `listener_options` (e.g. certfile and keyfile) on its listener.
    explicit upstream_broker(const std::string& listener_options = "")
        : port_(free_loopback_port()) {
        write_file_text(directory_.path() / "mosquitto.conf",
                        "listener " + std::to_string(port_) + " 127.0.0.1\n" + listener_options +
                            "allow_anonymous true\npersistence true\npersistence_location " +
                            directory_.path().string() +
                            // Run as root (CI), it would drop to user mosquitto, who cannot write
                            // its persistence file here; as another user this line is ignored.
                            "/\nuser root\n");
        start();
    }

    void start() {
        const auto log_path = directory_.path() / "mosquitto.log";
        process_ = std::make_unique<child_process>(
            std::vector<std::string>{PERCH_MOSQUITTO_PATH, "-c",
                                     (directory_.path() / "mosquitto.conf").string()},
            process_streams{{}, log_path, log_path});
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!accepts_tcp(port_)) {
            if (std::chrono::steady_clock::now() > deadline || !process_->is_running()) {
                throw std::runtime_error("mosquitto did not start:\n" + log());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    /// Stops it (SIGTERM: it saves its sessions), as an outage of the upstream.
    void stop() { process_->stop(std::chrono::milliseconds(5000), SIGTERM); }

    std::uint16_t port() const { return port_; }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    std::string log() const { return read_file_text(directory_.path() / "mosquitto.log"); }

private:
    temporary_directory directory_;
    std::uint16_t port_;
    std::unique_ptr<child_process> process_;
};

} // namespace perch::integration
