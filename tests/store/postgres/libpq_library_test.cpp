// Loading libpq on demand (store/postgres/libpq_library.hpp): the installed library gives every
// function the store calls, and a library that is missing, or is not libpq, is a clear error that
// names what is missing.
#include <string>

#include <gtest/gtest.h>

#include "store/postgres/connection.hpp"
#include "store/postgres/libpq_library.hpp"

namespace perch::store::postgres {
namespace {

std::string load_error(const char* soname) {
    try {
        (void)load_libpq(soname);
    } catch (const postgres_error& error) {
        return error.what();
    }
    return "";
}

TEST(LibpqLibrary, TheInstalledLibraryGivesEveryFunction) {
    const libpq_functions& functions = libpq();
    ASSERT_NE(functions.connectdb, nullptr);
    ASSERT_NE(functions.free_memory, nullptr);
    // libpq answers for a null connection without one: the call reaches the real library.
    EXPECT_EQ(functions.status(nullptr), CONNECTION_BAD);
    EXPECT_EQ(&libpq(), &functions); // loaded once
}

TEST(LibpqLibrary, AMissingLibraryIsAnErrorNamingItAndItsPackage) {
    const std::string message = load_error("libperch-no-such-library.so.9");
    EXPECT_NE(message.find("libperch-no-such-library.so.9"), std::string::npos) << message;
    EXPECT_NE(message.find("libpq5"), std::string::npos) << message;
}

TEST(LibpqLibrary, ALibraryThatIsNotLibpqIsAnErrorNamingTheFunction) {
    const std::string message = load_error("libm.so.6");
    EXPECT_NE(message.find("PQconnectdb"), std::string::npos) << message;
}

TEST(LibpqLibrary, AConnectionThatFailsStillSaysWhy) {
    // Through the loaded library: libpq's own message comes back.
    try {
        connection refused("host=/nonexistent-perch-socket-dir dbname=x connect_timeout=1");
        FAIL() << "connected";
    } catch (const postgres_error& error) {
        EXPECT_NE(std::string(error.what()).find("cannot connect to PostgreSQL"), std::string::npos)
            << error.what();
    }
}

} // namespace
} // namespace perch::store::postgres
