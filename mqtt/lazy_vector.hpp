// A vector that costs one pointer until its first element arrives. Every session holds a list of
// inbound QoS 2 packet identifiers awaiting PUBREL; most clients never publish at QoS 2, and an
// empty std::vector still spends 24 bytes of every such connection.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "mqtt/lazy_storage.hpp"

namespace perch::mqtt {

/// The subset of std::vector the sessions use, allocated on first insertion (lazy_storage). An
/// emptied vector keeps its storage (so a steady flow allocates nothing per element) until
/// clear().
template <typename T> class lazy_vector : public lazy_storage<std::vector<T>> {
    using base = lazy_storage<std::vector<T>>;

public:
    using value_type = T;
    using typename base::const_iterator;
    using typename base::iterator;

    /// Element `index`; must be < size().
    T& operator[](std::size_t index) { return (*this->items_)[index]; }
    const T& operator[](std::size_t index) const { return (*this->items_)[index]; }

    /// Appends `item` (allocating the storage on first use).
    void push_back(T item) { this->items().push_back(std::move(item)); }
    /// Inserts `item` before `position`; returns the iterator to it.
    iterator insert(const_iterator position, T item) {
        const auto offset = position - this->view().begin();
        auto& held = this->items();
        return held.insert(held.begin() + offset, std::move(item));
    }
    /// Removes the element at `position`; returns the iterator after it.
    iterator erase(const_iterator position) { return this->items_->erase(position); }
};

} // namespace perch::mqtt
