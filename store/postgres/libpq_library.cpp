// Loading libpq with dlopen (libpq_library.hpp).
#include "store/postgres/libpq_library.hpp"

#include <string>

#include "store/postgres/connection.hpp"

#include <dlfcn.h>

namespace perch::store::postgres {
namespace {

template <typename Function>
void bind(void* library, const char* soname, const char* name, Function& function) {
    void* const address = dlsym(library, name);
    if (address == nullptr) {
        throw postgres_error(std::string("PostgreSQL: ") + soname + " has no function " + name);
    }
    function = reinterpret_cast<Function>(address);
}

} // namespace

libpq_functions load_libpq(const char* soname) {
    void* const library = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        const char* const reason = dlerror();
        throw postgres_error(std::string("PostgreSQL needs the client library ") + soname +
                             " (Debian package libpq5), which cannot be loaded: " +
                             (reason != nullptr ? reason : "unknown reason"));
    }
    libpq_functions functions;
    bind(library, soname, "PQconnectdb", functions.connectdb);
    bind(library, soname, "PQstatus", functions.status);
    bind(library, soname, "PQerrorMessage", functions.error_message);
    bind(library, soname, "PQfinish", functions.finish);
    bind(library, soname, "PQreset", functions.reset);
    bind(library, soname, "PQsetNoticeProcessor", functions.set_notice_processor);
    bind(library, soname, "PQtransactionStatus", functions.transaction_status);
    bind(library, soname, "PQexec", functions.exec);
    bind(library, soname, "PQexecParams", functions.exec_params);
    bind(library, soname, "PQresultStatus", functions.result_status);
    bind(library, soname, "PQclear", functions.clear);
    bind(library, soname, "PQntuples", functions.ntuples);
    bind(library, soname, "PQcmdTuples", functions.cmd_tuples);
    bind(library, soname, "PQgetvalue", functions.get_value);
    bind(library, soname, "PQgetlength", functions.get_length);
    bind(library, soname, "PQgetisnull", functions.get_is_null);
    bind(library, soname, "PQunescapeBytea", functions.unescape_bytea);
    bind(library, soname, "PQfreemem", functions.free_memory);
    return functions;
}

const libpq_functions& libpq() {
    // A static initialised by a call that throws is initialised again by the next call.
    static const libpq_functions functions = load_libpq(libpq_soname);
    return functions;
}

} // namespace perch::store::postgres
