// An ordered map that costs one pointer while it is empty. Every session holds a subscription
// table, and many connections (publishers, clients between a connect and their first SUBSCRIBE)
// never put anything in it; an empty std::map still spends 48 bytes of every such connection.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <utility>

namespace perch::mqtt {

/// The subset of std::map the sessions and their stores use, allocated on first insertion and
/// released when the last element is erased. Copies are deep; moves transfer the storage. Lookups
/// accept any key the comparator does (heterogeneous lookup with std::less<>).
template <typename Key, typename T, typename Compare = std::less<Key>> class lazy_map {
public:
    using key_type = Key;
    using mapped_type = T;
    using value_type = std::pair<const Key, T>;
    using storage = std::map<Key, T, Compare>;
    using iterator = typename storage::iterator;
    using const_iterator = typename storage::const_iterator;

    lazy_map() = default;
    lazy_map(const lazy_map& other)
        : items_(other.items_ ? std::make_unique<storage>(*other.items_) : nullptr) {}
    lazy_map(lazy_map&& other) noexcept = default;
    lazy_map& operator=(const lazy_map& other) {
        if (this != &other) {
            items_ = other.items_ ? std::make_unique<storage>(*other.items_) : nullptr;
        }
        return *this;
    }
    lazy_map& operator=(lazy_map&& other) noexcept = default;
    ~lazy_map() = default;

    /// Number of elements.
    std::size_t size() const { return items_ ? items_->size() : 0; }
    /// True when there is no element.
    bool empty() const { return !items_ || items_->empty(); }

    iterator begin() { return items_ ? items_->begin() : none().begin(); }
    iterator end() { return items_ ? items_->end() : none().end(); }
    const_iterator begin() const { return view().begin(); }
    const_iterator end() const { return view().end(); }

    /// The element with `key`, or end().
    template <typename K> iterator find(const K& key) {
        return items_ ? items_->find(key) : none().end();
    }
    template <typename K> const_iterator find(const K& key) const { return view().find(key); }
    /// 1 when an element has `key`, else 0.
    template <typename K> std::size_t count(const K& key) const {
        return items_ ? items_->count(key) : 0;
    }
    /// True when an element has `key`.
    template <typename K> bool contains(const K& key) const {
        return items_ && items_->contains(key);
    }
    /// The value with `key`; throws std::out_of_range when there is none.
    template <typename K> T& at(const K& key) { return items_ ? items_->at(key) : none().at(key); }
    template <typename K> const T& at(const K& key) const { return view().at(key); }

    /// The value with `key`, inserted value-initialized when there is none.
    T& operator[](const Key& key) { return items()[key]; }
    T& operator[](Key&& key) { return items()[std::move(key)]; }

    /// Inserts an element made from `args` unless its key is present; the element with that key
    /// and whether it was inserted.
    template <typename... Args> std::pair<iterator, bool> emplace(Args&&... args) {
        return items().emplace(std::forward<Args>(args)...);
    }
    /// Inserts `value` under `key`, or replaces the value already there.
    template <typename K, typename V>
    std::pair<iterator, bool> insert_or_assign(K&& key, V&& value) {
        return items().insert_or_assign(std::forward<K>(key), std::forward<V>(value));
    }
    /// Removes the element at `position`; returns the iterator after it (end() once empty).
    iterator erase(const_iterator position) {
        const iterator next = items_->erase(position);
        if (items_->empty()) {
            items_.reset();
            return end();
        }
        return next;
    }
    /// Removes every element and releases the storage.
    void clear() { items_.reset(); }

    bool operator==(const lazy_map& other) const { return view() == other.view(); }

private:
    storage& items() {
        if (!items_) {
            items_ = std::make_unique<storage>();
        }
        return *items_;
    }
    const storage& view() const { return items_ ? *items_ : none(); }
    /// An empty map to iterate over while there is no storage; never modified.
    static storage& none() {
        static thread_local storage empty;
        return empty;
    }

    std::unique_ptr<storage> items_;
};

} // namespace perch::mqtt
