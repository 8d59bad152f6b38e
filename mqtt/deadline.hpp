// A moment that may not be set, in the space of one time_point. A session and its connection each
// hold several such moments (CONNECT timeout, keep-alive, will delay, session expiry, closing
// linger); std::optional<time_point> spends 16 bytes on each, this spends 8, which every idle
// connection keeps.
#pragma once

#include <optional>

#include "mqtt/message.hpp"

namespace perch::mqtt {

/// An optional time_point without the flag: the end of time stands for "not set", which is what
/// an unset deadline means anyway (it never comes).
class deadline {
public:
    deadline() = default;
    deadline(time_point at) : at_(at) {}
    deadline& operator=(time_point at) {
        at_ = at;
        return *this;
    }

    /// True when a moment is set.
    bool has_value() const { return at_ != never(); }
    explicit operator bool() const { return has_value(); }
    /// The moment; only when has_value().
    time_point operator*() const { return at_; }
    /// Clears the moment.
    void reset() { at_ = never(); }
    /// The moment as a std::optional.
    std::optional<time_point> get() const {
        return has_value() ? std::optional<time_point>(at_) : std::nullopt;
    }

    /// The value standing for "not set".
    static constexpr time_point never() { return time_point::max(); }

private:
    time_point at_ = never();
};

} // namespace perch::mqtt
