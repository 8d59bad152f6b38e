// An ordered map that costs one pointer while it is empty. Every session holds a subscription
// table, and many connections (publishers, clients between a connect and their first SUBSCRIBE)
// never put anything in it; an empty std::map still spends 48 bytes of every such connection.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <utility>

#include "mqtt/lazy_storage.hpp"

namespace perch::mqtt {

/// The subset of std::map the sessions and their stores use, allocated on first insertion and
/// released when the last element is erased (lazy_storage). Lookups
/// accept any key the comparator does (heterogeneous lookup with std::less<>).
template <typename Key, typename T, typename Compare = std::less<Key>>
class lazy_map : public lazy_storage<std::map<Key, T, Compare>> {
    using base = lazy_storage<std::map<Key, T, Compare>>;

public:
    using key_type = Key;
    using mapped_type = T;
    using value_type = std::pair<const Key, T>;
    using typename base::const_iterator;
    using typename base::iterator;

    /// The element with `key`, or end().
    template <typename K> iterator find(const K& key) {
        return this->items_ ? this->items_->find(key) : this->none().end();
    }
    template <typename K> const_iterator find(const K& key) const { return this->view().find(key); }
    /// 1 when an element has `key`, else 0.
    template <typename K> std::size_t count(const K& key) const {
        return this->items_ ? this->items_->count(key) : 0;
    }
    /// True when an element has `key`.
    template <typename K> bool contains(const K& key) const {
        return this->items_ && this->items_->contains(key);
    }
    /// The value with `key`; throws std::out_of_range when there is none.
    template <typename K> T& at(const K& key) {
        return this->items_ ? this->items_->at(key) : this->none().at(key);
    }
    template <typename K> const T& at(const K& key) const { return this->view().at(key); }

    /// The value with `key`, inserted value-initialized when there is none.
    T& operator[](const Key& key) { return this->items()[key]; }
    T& operator[](Key&& key) { return this->items()[std::move(key)]; }

    /// Inserts an element made from `args` unless its key is present; the element with that key
    /// and whether it was inserted.
    template <typename... Args> std::pair<iterator, bool> emplace(Args&&... args) {
        return this->items().emplace(std::forward<Args>(args)...);
    }
    /// Inserts `value` under `key`, or replaces the value already there.
    template <typename K, typename V>
    std::pair<iterator, bool> insert_or_assign(K&& key, V&& value) {
        return this->items().insert_or_assign(std::forward<K>(key), std::forward<V>(value));
    }
    /// Removes the element at `position`; returns the iterator after it (end() once empty).
    iterator erase(const_iterator position) {
        const iterator next = this->items_->erase(position);
        if (this->items_->empty()) {
            this->items_.reset();
            return this->end();
        }
        return next;
    }
};

} // namespace perch::mqtt
