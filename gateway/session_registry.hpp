// Which session holds each client identifier, across all workers. The only place that decides a
// takeover: claiming an identifier returns the session that must hand over. Knows nothing about
// sockets; subscriber ids name the owning worker (delivery.hpp).
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mqtt/subscription_tree.hpp"

namespace perch::gateway {

/// Client identifier -> the subscriber id of the session holding it. Thread-safe (one mutex,
/// taken only on connect, takeover and session end; never per message).
class session_registry {
public:
    /// Makes `subscriber` the holder of `client_id`. Returns the previous holder, which must hand
    /// its session over (or discard it) [MQTT-3.1.4-3]; empty when there was none.
    std::optional<mqtt::subscriber_id> claim(std::string_view client_id,
                                             mqtt::subscriber_id subscriber);

    /// Forgets `client_id` if `subscriber` still holds it (a session that was taken over must not
    /// remove its successor). Returns true when it was removed.
    bool release(std::string_view client_id, mqtt::subscriber_id subscriber);

    /// The current holder of `client_id`, if any.
    std::optional<mqtt::subscriber_id> holder(std::string_view client_id) const;

    /// Number of sessions, connected or not ($SYS clients/total).
    std::size_t size() const;

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const {
            return std::hash<std::string_view>{}(text);
        }
    };

    // Owner: shared by all workers. Lock: mutex_.
    mutable std::mutex mutex_;
    std::unordered_map<std::string, mqtt::subscriber_id, string_hash, std::equal_to<>> holders_;
};

} // namespace perch::gateway
