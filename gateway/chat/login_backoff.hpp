// Failed-login backoff (docs/ACCESS.md "Failed logins"): after a few failed password checks for a
// user name, or from an address, further attempts for it are refused for a growing time, without
// a password check. Shared by every worker; logins are not the hot path.
//
// Theory of operation. Each user name and each address has an entry counting its failures since
// the last success (user names) or since it was forgotten. From the `free_failures`-th failure on,
// the entry is blocked until its last failure plus first_delay * 2^(failures - free_failures),
// capped at max_delay. A refused attempt changes nothing (it checked no password), so waiting out
// the delay always gives one more try. An entry without a failure for `forget_after` is dropped.
// Entries live in shards, each with its own lock and a bounded number of entries: a full shard
// drops what it may forget, then its oldest entry.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace perch::gateway {

/// The backoff settings (login_backoff_* in the configuration).
struct login_backoff_settings {
    /// Failures of one user name before its logins back off; 0 turns the user backoff off.
    std::uint32_t user_free_failures = 3;
    /// Failures from one address before its logins back off; 0 turns the address backoff off.
    /// Higher than the user's: many users may share an address.
    std::uint32_t address_free_failures = 10;
    /// The first delay, doubled with each failure after it, up to max_delay.
    std::chrono::milliseconds first_delay{1000};
    std::chrono::milliseconds max_delay{60'000};
    /// An entry without a failure for this long is forgotten.
    std::chrono::milliseconds forget_after{600'000};
    /// At most this many entries (user names and addresses together).
    std::size_t max_entries = 65'536;
};

/// The backoff table. Every member is thread-safe; time is passed in (never read here).
class login_backoff {
public:
    using clock = std::chrono::steady_clock;

    explicit login_backoff(login_backoff_settings settings = {});

    /// True when an attempt for `user` (empty: none) from `address` (empty: unknown) must be
    /// refused at `now` without checking its password.
    bool is_refused(std::string_view user, std::string_view address, clock::time_point now);

    /// A password check for `user` from `address` failed at `now`.
    void record_failure(std::string_view user, std::string_view address, clock::time_point now);

    /// `user` logged in: its failures are forgotten (the address's stay: one account must not
    /// clear an address that guesses others).
    void record_success(std::string_view user);

    /// Entries held now (for tests and stats).
    std::size_t entry_count() const;

private:
    struct entry {
        std::uint32_t failures = 0;
        clock::time_point last_failure{};
    };
    struct shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, entry> entries;
    };
    static constexpr std::size_t shard_count = 16;

    shard& shard_of(const std::string& key);
    bool is_blocked(const std::string& key, std::uint32_t free_failures, clock::time_point now);
    void fail(const std::string& key, clock::time_point now);
    void make_room(shard& held, clock::time_point now);

    login_backoff_settings settings_;
    std::array<shard, shard_count> shards_;
};

} // namespace perch::gateway
