// A completion handler kept inside the object that waits for it. A connection's pending read wait
// and write each hold a handler that captures the connection (a shared_ptr, 16 bytes); a
// std::function puts such a capture on the heap, which costs every idle connection an allocation
// for its read wait and every write another. This one keeps callables of up to two pointers in
// place (the handler is then three pointers, one less than a std::function) and falls back to the
// heap only for larger ones.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace perch::gateway {

template <typename Signature> class inline_handler;

/// A move-only std::function for handlers: same calls, same empty state, no heap for a small
/// callable.
template <typename Result, typename... Args> class inline_handler<Result(Args...)> {
public:
    /// Callables up to this size (and a pointer's alignment) are kept in place.
    static constexpr std::size_t capacity = 2 * sizeof(void*);

    inline_handler() noexcept = default;
    inline_handler(std::nullptr_t) noexcept {}

    template <typename Callable>
    requires(!std::is_same_v<std::decay_t<Callable>, inline_handler> &&
             std::is_invocable_r_v<Result, std::decay_t<Callable>&, Args...>)
        inline_handler(Callable&& callable) {
        using stored = std::decay_t<Callable>;
        if constexpr (is_kept_in_place<stored>()) {
            ::new (static_cast<void*>(storage_)) stored(std::forward<Callable>(callable));
            operations_ = &in_place_operations<stored>;
        } else {
            ::new (static_cast<void*>(storage_))
                stored*(new stored(std::forward<Callable>(callable)));
            operations_ = &on_heap_operations<stored>;
        }
    }

    inline_handler(inline_handler&& other) noexcept { take(other); }
    inline_handler& operator=(inline_handler&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    inline_handler& operator=(std::nullptr_t) noexcept {
        reset();
        return *this;
    }
    inline_handler(const inline_handler&) = delete;
    inline_handler& operator=(const inline_handler&) = delete;
    ~inline_handler() { reset(); }

    /// True when a callable is held.
    explicit operator bool() const noexcept { return operations_ != nullptr; }

    /// Calls the held callable; there must be one.
    Result operator()(Args... args) const {
        return operations_->invoke(storage_, std::forward<Args>(args)...);
    }

private:
    struct operations {
        Result (*invoke)(void* storage, Args&&... args);
        /// Move-constructs the callable at `to` from the one at `from`, then destroys `from`'s.
        void (*relocate)(void* from, void* to) noexcept;
        void (*destroy)(void* storage) noexcept;
    };

    template <typename Stored> static constexpr bool is_kept_in_place() {
        return sizeof(Stored) <= capacity && alignof(Stored) <= alignof(void*) &&
               std::is_nothrow_move_constructible_v<Stored>;
    }

    template <typename Stored>
    static constexpr operations in_place_operations{
        [](void* storage, Args&&... args) -> Result {
            return (*static_cast<Stored*>(storage))(std::forward<Args>(args)...);
        },
        [](void* from, void* to) noexcept {
            Stored& source = *static_cast<Stored*>(from);
            ::new (to) Stored(std::move(source));
            source.~Stored();
        },
        [](void* storage) noexcept { static_cast<Stored*>(storage)->~Stored(); },
    };

    template <typename Stored>
    static constexpr operations on_heap_operations{
        [](void* storage, Args&&... args) -> Result {
            return (**static_cast<Stored**>(storage))(std::forward<Args>(args)...);
        },
        [](void* from, void* to) noexcept { ::new (to) Stored*(*static_cast<Stored**>(from)); },
        [](void* storage) noexcept { delete *static_cast<Stored**>(storage); },
    };

    void take(inline_handler& other) noexcept {
        if (other.operations_ != nullptr) {
            other.operations_->relocate(other.storage_, storage_);
            operations_ = std::exchange(other.operations_, nullptr);
        }
    }

    void reset() noexcept {
        if (operations_ != nullptr) {
            std::exchange(operations_, nullptr)->destroy(storage_);
        }
    }

    alignas(void*) mutable unsigned char storage_[capacity];
    const operations* operations_ = nullptr;
};

} // namespace perch::gateway
