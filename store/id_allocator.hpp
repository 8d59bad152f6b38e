// History ids handed out by a store that several gateways share: unique across the gateways,
// increasing per conversation in allocation order, without gaps. Knows nothing about messages.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "store/store_status.hpp"

namespace perch::store {

/// Receives the id allocated, or a failure (then `id` is 0 and nothing was allocated for it,
/// unless the database committed an allocation whose answer was lost: such an id is a gap).
using id_completion = std::function<void(std::uint64_t id, const store_status& status)>;

/// Allocates history ids from the shared database (chat_store::open_id_allocator). Thread-safe.
class id_allocator {
public:
    virtual ~id_allocator() = default;

    /// Asks for the next id of `conversation`. `done` runs exactly once, on the allocator's
    /// thread, never before this call returns; completions run in request order (so the ids of
    /// one conversation arrive in increasing order). It must be cheap and must not block; it
    /// may submit store operations (a history row) but must not ask for another id and wait.
    virtual void allocate(std::string conversation, id_completion done) = 0;
};

} // namespace perch::store
