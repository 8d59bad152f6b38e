// A double-ended queue that costs one pointer until its first element arrives. An idle session
// holds several queues that stay empty for its whole life (queued and in-flight deliveries,
// pending acknowledgements); std::deque allocates its map and a first block on construction, which
// would cost every idle connection more than a kilobyte.
#pragma once

#include <cstddef>
#include <deque>
#include <utility>

#include "mqtt/lazy_storage.hpp"

namespace perch::mqtt {

/// The subset of std::deque the sessions use, allocated on first insertion (lazy_storage). An
/// emptied queue keeps its storage until clear() or release_if_empty(): the sessions release it
/// when a queue drains, so a chat user who sent or received a message does not keep a deque's map
/// and first block (about 600 bytes each) until the next one.
template <typename T> class lazy_deque : public lazy_storage<std::deque<T>> {
    using base = lazy_storage<std::deque<T>>;

public:
    using value_type = T;
    using typename base::const_iterator;
    using typename base::iterator;

    /// The oldest element; the queue must not be empty.
    T& front() { return this->items_->front(); }
    const T& front() const { return this->items_->front(); }
    /// The newest element; the queue must not be empty.
    T& back() { return this->items_->back(); }
    const T& back() const { return this->items_->back(); }
    /// Element `index` from the front; must be < size().
    T& operator[](std::size_t index) { return (*this->items_)[index]; }
    const T& operator[](std::size_t index) const { return (*this->items_)[index]; }

    /// Appends `item` as the newest element (allocating the storage on first use).
    void push_back(T item) { this->items().push_back(std::move(item)); }
    /// Constructs the newest element in place from `args`.
    template <typename... Args> T& emplace_back(Args&&... args) {
        return this->items().emplace_back(std::forward<Args>(args)...);
    }
    /// Removes the oldest element; the queue must not be empty.
    void pop_front() { this->items_->pop_front(); }
    /// Removes the element at `position`; returns the iterator after it.
    iterator erase(const_iterator position) { return this->items_->erase(position); }

    /// Releases the storage when the queue is empty (after a burst drained).
    void release_if_empty() {
        if (this->items_ && this->items_->empty()) {
            this->items_.reset();
        }
    }
};

} // namespace perch::mqtt
