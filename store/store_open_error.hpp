// The exception every store throws when it cannot be opened or read at start-up. Knows nothing
// about which store or backend throws it.
#pragma once

#include <stdexcept>

namespace perch::store {

/// A store that cannot be opened: missing directory, unreadable, read-only, corrupt, newer
/// schema, full disk. what() names the file and the underlying error.
class store_open_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace perch::store
