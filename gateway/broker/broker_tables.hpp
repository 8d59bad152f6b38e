// What a connection needs of the broker and nothing more: the tables every worker shares
// (subscriptions and retained messages, client ids, persistent sessions, the chat layer) and the
// max_connections slot it holds. The server implements it; a test builds its own tables.
#pragma once

#include "gateway/broker/router.hpp"
#include "gateway/broker/session_persistence.hpp"
#include "gateway/broker/session_registry.hpp"
#include "gateway/chat/chat_service.hpp"

namespace perch::gateway {

/// The shared tables of a running broker, as its connections see them. Every accessor may be
/// called from any worker; the tables themselves say which of their members are thread-safe.
class broker_tables {
public:
    virtual ~broker_tables() = default;

    /// The subscription index and the retained messages.
    virtual router& routes() = 0;
    /// Which connection holds which client id.
    virtual session_registry& registry() = 0;
    /// The store of persistent sessions, or nullptr when persistence is off.
    virtual session_persistence* persistence() = 0;
    /// The chat layer (its store is in memory when persistence is off).
    virtual chat_service& chat() = 0;
    /// Frees the slot a connection took in max_connections. Any thread.
    virtual void release_connection_slot() = 0;
    /// Frees the place a connection refused for max_connection_rate took among those waiting
    /// for their CONNECT to be answered (server::max_rate_refused_waiting). Any thread.
    virtual void release_rate_refused_slot() = 0;

protected:
    broker_tables() = default;
    broker_tables(const broker_tables&) = default;
    broker_tables& operator=(const broker_tables&) = default;
};

} // namespace perch::gateway
