// What the lazy containers (lazy_deque, lazy_vector, lazy_map) share: a standard container held
// behind one pointer, made on the first insertion. Each of them adds the operations of its kind
// the sessions use; this part holds the storage, its deep copies and its iteration while empty.
#pragma once

#include <cstddef>
#include <memory>

namespace perch::mqtt {

/// A `Storage` container that costs one pointer until something is inserted. Copies are deep;
/// moves transfer the storage.
template <typename Storage> class lazy_storage {
public:
    using storage = Storage;
    using iterator = typename Storage::iterator;
    using const_iterator = typename Storage::const_iterator;

    lazy_storage() = default;
    lazy_storage(const lazy_storage& other)
        : items_(other.items_ ? std::make_unique<Storage>(*other.items_) : nullptr) {}
    lazy_storage(lazy_storage&& other) noexcept = default;
    lazy_storage& operator=(const lazy_storage& other) {
        if (this != &other) {
            items_ = other.items_ ? std::make_unique<Storage>(*other.items_) : nullptr;
        }
        return *this;
    }
    lazy_storage& operator=(lazy_storage&& other) noexcept = default;
    ~lazy_storage() = default;

    /// Number of elements.
    std::size_t size() const { return items_ ? items_->size() : 0; }
    /// True when there is no element.
    bool empty() const { return !items_ || items_->empty(); }
    /// True while the storage is allocated (from the first insertion until it is released).
    bool has_storage() const { return items_ != nullptr; }

    iterator begin() { return items_ ? items_->begin() : none().begin(); }
    iterator end() { return items_ ? items_->end() : none().end(); }
    const_iterator begin() const { return view().begin(); }
    const_iterator end() const { return view().end(); }

    /// Removes every element and releases the storage.
    void clear() { items_.reset(); }

    bool operator==(const lazy_storage& other) const { return view() == other.view(); }

protected:
    /// The storage, made on first use.
    Storage& items() {
        if (!items_) {
            items_ = std::make_unique<Storage>();
        }
        return *items_;
    }
    /// The storage, or an empty one while there is none.
    const Storage& view() const { return items_ ? *items_ : none(); }
    /// An empty container to iterate over while there is no storage; never modified.
    static Storage& none() {
        static thread_local Storage empty;
        return empty;
    }

    std::unique_ptr<Storage> items_;
};

} // namespace perch::mqtt
