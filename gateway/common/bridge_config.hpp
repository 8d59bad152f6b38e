// The bridges of a configuration (docs/BRIDGES.md): Mosquitto's `connection` blocks, their keys
// and the topic mapping between local and remote names. Knows nothing about sockets or threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace perch::gateway {

/// Which way a bridged topic pattern carries messages.
enum class bridge_direction : std::uint8_t {
    out,  ///< Local messages go to the upstream broker.
    in,   ///< Upstream messages come to the local broker.
    both, ///< Both ways.
};

/// One `topic PATTERN [in|out|both] [QOS] [LOCAL_PREFIX] [REMOTE_PREFIX]` line. The prefixes are
/// prepended to the pattern on each side, as in Mosquitto: the local filter is local_prefix +
/// pattern and the remote filter remote_prefix + pattern.
struct bridge_topic {
    std::string pattern;
    bridge_direction direction = bridge_direction::out;
    std::uint8_t qos = 0;
    std::string local_prefix;
    std::string remote_prefix;
    bool operator==(const bridge_topic&) const = default;

    /// The filter subscribed to on the local broker.
    std::string local_filter() const { return local_prefix + pattern; }
    /// The filter subscribed to on the upstream broker.
    std::string remote_filter() const { return remote_prefix + pattern; }
    bool carries_out() const { return direction != bridge_direction::in; }
    bool carries_in() const { return direction != bridge_direction::out; }
};

/// The protocol a bridge speaks to its upstream.
enum class bridge_protocol : std::uint8_t { mqtt311, mqtt50 };

/// One `connection NAME` block.
struct bridge_config {
    std::string name;
    /// `address HOST[:PORT]`; port 1883 when none is given (8883 is not implied by a cafile).
    std::string host;
    std::uint16_t port = 1883;
    std::vector<bridge_topic> topics;
    std::string remote_username;
    std::string remote_password;
    bool has_remote_password = false;
    /// Empty: "perch-bridge-NAME".
    std::string remote_clientid;
    bool clean_session = false;
    std::uint16_t keep_alive_seconds = 60;
    bridge_protocol protocol = bridge_protocol::mqtt311;
    /// TLS to the upstream when set (its CA file, PEM); checks the certificate and host name.
    std::string cafile;
    /// TLS without checking the upstream's certificate (only with bridge_cafile; tests only).
    bool is_insecure = false;
    /// 3.1.1 only: announce a bridge (protocol level 0x84: 0x80 | 4) so the upstream does not echo.
    bool try_private = true;
    /// Publish the state on $SYS/broker/connection/NAME/state locally and set a will upstream.
    bool notifications = true;
    /// With notifications: the state is published locally only (no will, nothing upstream).
    bool notifications_local_only = false;
    /// The local user whose rights bridged messages have (perch's key). Empty: "bridge-NAME".
    std::string local_username;
    /// Chat across gateways (perch's key, docs/BRIDGES.md): carries `chat/relay/#` both ways at
    /// QoS 1 and makes the local user a relay peer. Needs chat_store postgresql.
    bool bridge_chat = false;
    /// The line of the `bridge_chat` key (0 when absent), for config errors.
    std::size_t bridge_chat_line = 0;
    bool operator==(const bridge_config&) const = default;

    /// The client id used upstream.
    std::string effective_remote_clientid() const {
        return remote_clientid.empty() ? "perch-bridge-" + name : remote_clientid;
    }
    /// The local user name of the bridge's in-process client.
    std::string effective_local_username() const {
        return local_username.empty() ? "bridge-" + name : local_username;
    }
    /// True when TLS is used upstream.
    bool is_tls() const { return !cafile.empty(); }
};

/// The `connection` blocks of config text (the file's other keys are parse_config's and are
/// skipped here). `connection NAME` starts a bridge; every bridge key sets the latest one. Throws
/// config_error ("FILE:LINE: KEY: problem") for a bridge key before any `connection`, a bad
/// value, or a block without an address or a topic (at its `connection` line). parse_config
/// calls it, so a config file with bad bridge lines is refused as a whole.
std::vector<bridge_config> parse_bridges(std::string_view text, std::string_view source_name);

/// Reads the file at `path` and parses its bridges. Throws config_error (line 0) when it cannot
/// be read.
std::vector<bridge_config> load_bridges_file(const std::string& path);

/// True when `key` is one of the bridge keys (`connection` or a key of a connection block).
bool is_bridge_key(std::string_view key);

/// Applies the bridge line `key values...` to `bridges`: `connection NAME` adds a bridge, every
/// other key sets the latest one. Returns the problem (for the caller to report with its file
/// and line) when the line is invalid or no `connection` came before it; nothing when applied.
std::optional<std::string> apply_bridge_line(std::vector<bridge_config>& bridges,
                                             std::string_view key,
                                             const std::vector<std::string_view>& values);

/// Checks what only a whole block can show (an address and at least one topic). Returns the
/// problem naming the bridge, or nothing.
std::optional<std::string> check_bridge(const bridge_config& bridge);

/// The mapping bridge_chat adds: `chat/relay/# both 1`, no prefixes.
bridge_topic relay_mapping();

/// The remote topic for local topic `local_topic` under `mapping` (which must carry out):
/// remote_prefix + (local_topic minus local_prefix); nothing when `local_topic` does not match
/// the mapping's local filter.
std::optional<std::string> to_remote_topic(const bridge_topic& mapping,
                                           std::string_view local_topic);

/// The local topic for remote topic `remote_topic` under `mapping` (which must carry in):
/// local_prefix + (remote_topic minus remote_prefix); nothing when it does not match.
std::optional<std::string> to_local_topic(const bridge_topic& mapping,
                                          std::string_view remote_topic);

} // namespace perch::gateway
