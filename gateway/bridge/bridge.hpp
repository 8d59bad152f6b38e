// One bridge between the local broker and an upstream broker (docs/BRIDGES.md): the local side is
// an in-process client with a persistent session, the remote side a remote_client.
//
// Theory of operation. The local client runs only while the upstream is connected: when the
// upstream connects, the local client connects (clean start false) and subscribes, with No
// Local, to the local filters of the `out` and `both` topics; when the upstream goes, the local
// client disconnects, so QoS 1/2 messages bound upstream wait in its session's queue in the store
// and come again, in order, when both are back. A local delivery is acknowledged (PUBACK, or
// PUBREC at QoS 2) only once the upstream acknowledged its copy; an upstream delivery likewise
// once the local broker did. Messages in from the upstream are published locally by the local
// client, whose No Local subscriptions do not send them back out. Runs on one worker's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "gateway/bridge/remote_client.hpp"
#include "gateway/client/in_process_client.hpp"
#include "gateway/common/bridge_config.hpp"

namespace perch::gateway {
class server;
class worker;
} // namespace perch::gateway

namespace perch::gateway::bridge {

/// A bridge's counters, readable from any thread.
struct bridge_counters {
    std::atomic<bool> is_connected{false};
    std::atomic<std::uint64_t> messages_in{0};
    std::atomic<std::uint64_t> messages_out{0};
    /// Upstream connections after the first one.
    std::atomic<std::uint64_t> reconnects{0};
};

/// The local session's Receive Maximum: how many messages may be on their way upstream at once.
inline constexpr std::uint16_t max_messages_in_flight = 20;
/// How many upstream deliveries wait for the local client to connect, at most.
inline constexpr std::size_t max_held_deliveries = 1000;

class bridge : public std::enable_shared_from_this<bridge> {
public:
    /// A bridge on `home` (whose thread calls everything) of broker `owner`; `tls` (null for
    /// TCP) must outlive it.
    bridge(server& owner, worker& home, bridge_config config,
           const client::tls_client_context* tls);
    ~bridge();
    bridge(const bridge&) = delete;
    bridge& operator=(const bridge&) = delete;

    /// Starts connecting upstream.
    void start();
    /// Disconnects both sides for good.
    void stop();

    const bridge_config& config() const { return config_; }
    const bridge_counters& counters() const { return counters_; }

private:
    /// A message on its way from one side to the other, waiting for the far side's
    /// acknowledgement before the near side gets its own.
    struct pending_delivery {
        std::uint64_t connection = 0;
        std::uint16_t packet_id = 0;
        mqtt::qos level = mqtt::qos::at_most_once;
    };

    void on_remote_connection(bool is_up);
    void on_local_message(const mqtt::publish& delivered);
    void on_remote_acknowledged(std::uint16_t packet_id, mqtt::reason_code reason);
    void on_remote_message(const mqtt::publish& delivered);
    void on_local_acknowledged(std::uint16_t packet_id, mqtt::reason_code reason);
    /// The local client connected (`is_up`) or went.
    void on_local_connection(bool is_up);
    void publish_local_state(bool is_up);

    server& server_;
    worker& worker_;
    bridge_config config_;
    std::shared_ptr<client::in_process_client> local_;
    std::shared_ptr<remote_client> remote_;
    /// By the upstream packet id: the local delivery to acknowledge.
    std::map<std::uint16_t, pending_delivery> outbound_;
    /// By the local packet id: the upstream delivery to acknowledge.
    std::map<std::uint16_t, pending_delivery> inbound_;
    /// QoS 1/2 upstream deliveries that came before the local client connected (an upstream
    /// sends what it queued for this session right after its CONNACK), in order, with the
    /// upstream connection they came on; published locally once it connects. At most
    /// max_held_deliveries: more are left unacknowledged, for the upstream's next connection.
    std::vector<std::pair<std::uint64_t, mqtt::publish>> held_inbound_;
    bridge_counters counters_;
};

} // namespace perch::gateway::bridge
