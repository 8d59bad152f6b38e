// Two PostgreSQL chat stores (two gateways) on one database, as a test fixture: the database is
// the test's own in the throwaway cluster (tests/support/postgres_cluster.hpp, through
// postgres_backend.hpp). Skips, saying why, when the build has no PostgreSQL or the cluster
// cannot run. Knows nothing of the gateway.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"

#include "postgres_backend.hpp"
#include "store_test_support.hpp"

namespace perch::store::testing_support {

class two_postgres_stores : public ::testing::Test {
protected:
    /// Opens first_ and second_ on the test's database with options_ (a subclass may set
    /// options_ before calling this), or skips.
    void SetUp() override {
        if (const std::string reason = postgres_backend::unavailable_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        options_.path = database_.path();
        first_ = postgres_backend::open(options_);
        second_ = postgres_backend::open(options_);
    }

    temporary_database database_;
    store_options options_;
    std::unique_ptr<chat_store> first_;
    std::unique_ptr<chat_store> second_;
};

} // namespace perch::store::testing_support
