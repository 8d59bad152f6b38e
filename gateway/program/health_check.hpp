// `perch --check`: asks a running broker, over MQTT, whether it is serving. Used as the
// container's HEALTHCHECK and by monitoring: a broker whose port accepts TCP but whose workers
// are stuck fails it, because the answer must be a CONNACK.
#pragma once

#include <chrono>
#include <string>

#include "gateway/common/config.hpp"

namespace perch::gateway {

/// What one check found.
struct health_report {
    /// True when the broker answered CONNECT with a CONNACK (whatever its return code: a broker
    /// that refuses anonymous clients is still serving).
    bool is_healthy = false;
    /// One line for the operator: where it connected and what came back, or what went wrong.
    std::string detail;
};

/// The address `perch --check` probes for `config`: the first plain MQTT listener, at its bind
/// address, or at 127.0.0.1 when it binds every interface. Empty when the configuration has no
/// plain MQTT listener.
std::string health_check_target(const broker_config& config, std::uint16_t& port);

/// Connects to `host`:`port`, sends an MQTT 3.1.1 CONNECT (clean session, a client identifier of
/// its own), waits up to `timeout` in total for the CONNACK, then sends DISCONNECT.
health_report check_broker_health(const std::string& host, std::uint16_t port,
                                  std::chrono::milliseconds timeout);

} // namespace perch::gateway
