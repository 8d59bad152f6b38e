// A double-ended queue that costs one pointer until its first element arrives. An idle session
// holds several queues that stay empty for its whole life (queued and in-flight deliveries,
// pending acknowledgements); std::deque allocates its map and a first block on construction, which
// would cost every idle connection more than a kilobyte.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace perch::mqtt {

/// The subset of std::deque the sessions use, allocated on first insertion. Copies are deep;
/// moves transfer the storage. An emptied queue keeps its storage until clear() or release().
template <typename T> class lazy_deque {
public:
    using value_type = T;
    using storage = std::deque<T>;
    using iterator = typename storage::iterator;
    using const_iterator = typename storage::const_iterator;

    lazy_deque() = default;
    lazy_deque(const lazy_deque& other)
        : items_(other.items_ ? std::make_unique<storage>(*other.items_) : nullptr) {}
    lazy_deque(lazy_deque&& other) noexcept = default;
    lazy_deque& operator=(const lazy_deque& other) {
        if (this != &other) {
            items_ = other.items_ ? std::make_unique<storage>(*other.items_) : nullptr;
        }
        return *this;
    }
    lazy_deque& operator=(lazy_deque&& other) noexcept = default;
    ~lazy_deque() = default;

    /// Number of elements.
    std::size_t size() const { return items_ ? items_->size() : 0; }
    /// True when there is no element.
    bool empty() const { return !items_ || items_->empty(); }

    iterator begin() { return items_ ? items_->begin() : none().begin(); }
    iterator end() { return items_ ? items_->end() : none().end(); }
    const_iterator begin() const { return view().begin(); }
    const_iterator end() const { return view().end(); }

    /// The oldest element; the queue must not be empty.
    T& front() { return items_->front(); }
    const T& front() const { return items_->front(); }
    /// The newest element; the queue must not be empty.
    T& back() { return items_->back(); }
    const T& back() const { return items_->back(); }
    /// Element `index` from the front; must be < size().
    T& operator[](std::size_t index) { return (*items_)[index]; }
    const T& operator[](std::size_t index) const { return (*items_)[index]; }

    /// Appends `item` as the newest element (allocating the storage on first use).
    void push_back(T item) { items().push_back(std::move(item)); }
    /// Constructs the newest element in place from `args`.
    template <typename... Args> T& emplace_back(Args&&... args) {
        return items().emplace_back(std::forward<Args>(args)...);
    }
    /// Removes the oldest element; the queue must not be empty.
    void pop_front() { items_->pop_front(); }
    /// Removes the element at `position`; returns the iterator after it.
    iterator erase(const_iterator position) { return items_->erase(position); }

    /// Removes every element and releases the storage.
    void clear() { items_.reset(); }
    /// Releases the storage when the queue is empty (after a burst drained).
    void release_if_empty() {
        if (items_ && items_->empty()) {
            items_.reset();
        }
    }

    bool operator==(const lazy_deque& other) const {
        return size() == other.size() && std::equal(begin(), end(), other.begin());
    }

private:
    storage& items() {
        if (!items_) {
            items_ = std::make_unique<storage>();
        }
        return *items_;
    }
    const storage& view() const { return items_ ? *items_ : none(); }
    /// An empty queue to iterate over while there is no storage; never modified.
    static storage& none() {
        static thread_local storage empty;
        return empty;
    }

    std::unique_ptr<storage> items_;
};

} // namespace perch::mqtt
