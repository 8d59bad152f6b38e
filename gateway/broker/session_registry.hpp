// Which session holds each client identifier, across all workers. The only place that decides a
// takeover: claiming an identifier returns the session that must hand over. Knows nothing about
// sockets; subscriber ids name the owning worker (delivery.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
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
    /// A client identifier in 16 bytes: up to 15 characters in place, a longer one on the heap.
    /// Every connected client has an entry, so the entry is kept small (a node of 40 bytes
    /// instead of 56 with a std::string).
    class key {
    public:
        explicit key(std::string_view text);
        key(key&& other) noexcept;
        key(const key&) = delete;
        key& operator=(const key&) = delete;
        key& operator=(key&&) = delete;
        ~key();

        std::string_view view() const;

    private:
        static constexpr std::size_t inline_capacity = 15;
        /// Last byte of storage_: the unused inline capacity, or on_heap.
        static constexpr unsigned char on_heap = 0xFF;
        struct heap_text {
            char* data;
            std::uint32_t size;
        };
        bool is_on_heap() const { return storage_[inline_capacity] == on_heap; }
        heap_text& heap() { return *reinterpret_cast<heap_text*>(storage_); }
        const heap_text& heap() const { return *reinterpret_cast<const heap_text*>(storage_); }

        alignas(heap_text) unsigned char storage_[inline_capacity + 1];
    };
    struct key_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const {
            return std::hash<std::string_view>{}(text);
        }
        std::size_t operator()(const key& held) const { return (*this)(held.view()); }
    };
    struct key_equal {
        using is_transparent = void;
        template <typename A, typename B> bool operator()(const A& a, const B& b) const {
            return text_of(a) == text_of(b);
        }
        static std::string_view text_of(std::string_view text) { return text; }
        static std::string_view text_of(const key& held) { return held.view(); }
    };

    // Owner: shared by all workers. Lock: mutex_.
    mutable std::mutex mutex_;
    std::unordered_map<key, mqtt::subscriber_id, key_hash, key_equal> holders_;
};

} // namespace perch::gateway
