// A vector that costs one pointer until its first element arrives. Every session holds a list of
// inbound QoS 2 packet identifiers awaiting PUBREL; most clients never publish at QoS 2, and an
// empty std::vector still spends 24 bytes of every such connection.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace perch::mqtt {

/// The subset of std::vector the sessions use, allocated on first insertion. Copies are deep;
/// moves transfer the storage. An emptied vector keeps its storage (so a steady flow allocates
/// nothing per element) until clear().
template <typename T> class lazy_vector {
public:
    using value_type = T;
    using storage = std::vector<T>;
    using iterator = typename storage::iterator;
    using const_iterator = typename storage::const_iterator;

    lazy_vector() = default;
    lazy_vector(const lazy_vector& other)
        : items_(other.items_ ? std::make_unique<storage>(*other.items_) : nullptr) {}
    lazy_vector(lazy_vector&& other) noexcept = default;
    lazy_vector& operator=(const lazy_vector& other) {
        if (this != &other) {
            items_ = other.items_ ? std::make_unique<storage>(*other.items_) : nullptr;
        }
        return *this;
    }
    lazy_vector& operator=(lazy_vector&& other) noexcept = default;
    ~lazy_vector() = default;

    /// Number of elements.
    std::size_t size() const { return items_ ? items_->size() : 0; }
    /// True when there is no element.
    bool empty() const { return !items_ || items_->empty(); }

    iterator begin() { return items_ ? items_->begin() : none().begin(); }
    iterator end() { return items_ ? items_->end() : none().end(); }
    const_iterator begin() const { return view().begin(); }
    const_iterator end() const { return view().end(); }

    /// Element `index`; must be < size().
    T& operator[](std::size_t index) { return (*items_)[index]; }
    const T& operator[](std::size_t index) const { return (*items_)[index]; }

    /// Appends `item` (allocating the storage on first use).
    void push_back(T item) { items().push_back(std::move(item)); }
    /// Inserts `item` before `position`; returns the iterator to it.
    iterator insert(const_iterator position, T item) {
        const auto offset = position - view().begin();
        storage& held = items();
        return held.insert(held.begin() + offset, std::move(item));
    }
    /// Removes the element at `position`; returns the iterator after it.
    iterator erase(const_iterator position) { return items_->erase(position); }

    /// Removes every element and releases the storage.
    void clear() { items_.reset(); }

    bool operator==(const lazy_vector& other) const {
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
    /// An empty vector to iterate over while there is no storage; never modified.
    static storage& none() {
        static thread_local storage empty;
        return empty;
    }

    std::unique_ptr<storage> items_;
};

} // namespace perch::mqtt
