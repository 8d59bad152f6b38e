// The outcome of a store operation and the completion that reports it. Knows nothing about how
// or where the operation is written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace perch::store {

/// Why an operation did not reach durable storage.
enum class store_errc : std::uint8_t {
    /// Committed (or, for the memory store, applied).
    ok,
    /// The write failed (full disk, I/O error, read-only file). The operation stays queued and is
    /// retried until it commits, but nothing may be acknowledged to a client on its behalf.
    write_failed,
    /// The store was shutting down and the operation could not be written.
    closed,
    /// A read (read_queue) could not be answered.
    read_failed,
    /// A read was refused because too many of its kind are waiting (search_history); trying
    /// again later may succeed.
    busy,
};

/// The result of one operation; `detail` names the failure for the log.
struct store_status {
    store_errc code = store_errc::ok;
    std::string detail;

    /// True when the operation is durable.
    bool is_ok() const { return code == store_errc::ok; }
};

/// Called once per submitted operation with its outcome. For the SQLite store it runs on the
/// writer thread right after the group commit: it must be cheap and must not block (post the
/// result to the submitter's own thread). It may submit further operations. The memory store
/// calls it before the submitting call returns, on the submitter's thread. May be empty.
using store_completion = std::function<void(const store_status&)>;

} // namespace perch::store
