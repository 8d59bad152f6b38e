// libpq, loaded when the first PostgreSQL connection opens rather than linked into perch: most
// gateways keep their chat store in SQLite, and libpq's own dependencies (Kerberos, LDAP, GnuTLS,
// OpenSSL) take about 5 MiB of resident pages in every process that links it (docs/DECISIONS.md
// "libpq loaded on demand"). Nothing outside store/postgres/ includes <libpq-fe.h>.
#pragma once

#include <libpq-fe.h>

namespace perch::store::postgres {

/// The libpq functions the PostgreSQL store calls, with libpq's own signatures.
struct libpq_functions {
    decltype(&::PQconnectdb) connectdb = nullptr;
    decltype(&::PQstatus) status = nullptr;
    decltype(&::PQerrorMessage) error_message = nullptr;
    decltype(&::PQfinish) finish = nullptr;
    decltype(&::PQreset) reset = nullptr;
    decltype(&::PQsetNoticeProcessor) set_notice_processor = nullptr;
    decltype(&::PQtransactionStatus) transaction_status = nullptr;
    decltype(&::PQexec) exec = nullptr;
    decltype(&::PQexecParams) exec_params = nullptr;
    decltype(&::PQresultStatus) result_status = nullptr;
    decltype(&::PQclear) clear = nullptr;
    decltype(&::PQntuples) ntuples = nullptr;
    decltype(&::PQcmdTuples) cmd_tuples = nullptr;
    decltype(&::PQgetvalue) get_value = nullptr;
    decltype(&::PQgetlength) get_length = nullptr;
    decltype(&::PQgetisnull) get_is_null = nullptr;
    decltype(&::PQunescapeBytea) unescape_bytea = nullptr;
    decltype(&::PQfreemem) free_memory = nullptr;
};

/// The soname perch loads: the ABI of the <libpq-fe.h> it was built against (Debian's libpq5).
inline constexpr const char* libpq_soname = "libpq.so.5";

/// Loads the shared library `soname` and every function above from it; never unloads it. Throws
/// postgres_error naming the library (and, when one is missing, the function) when it cannot.
libpq_functions load_libpq(const char* soname);

/// libpq_soname's functions, loaded on the first call (thread-safe); a call after a failed load
/// tries again.
const libpq_functions& libpq();

} // namespace perch::store::postgres
