// Tests of the data directory's permissions: created private, and tightened when found loose.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "gateway/common/private_data_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

namespace fs = std::filesystem;

constexpr auto private_directory = fs::perms::owner_all;
constexpr auto private_file = fs::perms::owner_read | fs::perms::owner_write;
constexpr auto loose_file = private_file | fs::perms::group_read | fs::perms::others_read;

fs::perms mode_of(const fs::path& path) {
    return fs::status(path).permissions() & fs::perms::mask;
}

/// A fresh directory under the system's temporary folder, removed with everything in it; the
/// process umask is the common 022 meanwhile, so that files made without care come out 0644.
class PrivateDataDir : public ::testing::Test {
protected:
    void SetUp() override {
        saved_umask_ = ::umask(022);
        root_ = fs::temp_directory_path() /
                ("perch-private-" + std::to_string(::getpid()) + "-" +
                 std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
        fs::create_directories(root_);
    }
    void TearDown() override {
        fs::remove_all(root_);
        ::umask(saved_umask_);
    }

    fs::path root_;
    mode_t saved_umask_ = 0;
};

TEST_F(PrivateDataDir, CreatesTheFolderAndTheDatabaseForTheOwnerOnly) {
    const fs::path data_dir = root_ / "a" / "data";
    const auto tightened = prepare_private_data_dir(data_dir, "perch.db");
    EXPECT_TRUE(tightened.empty());
    EXPECT_EQ(mode_of(data_dir), private_directory);
    ASSERT_TRUE(fs::exists(data_dir / "perch.db"));
    EXPECT_EQ(fs::file_size(data_dir / "perch.db"), 0U);
    EXPECT_EQ(mode_of(data_dir / "perch.db"), private_file);
}

TEST_F(PrivateDataDir, TightensWhatAnOlderVersionLeftReadable) {
    const fs::path data_dir = root_ / "data";
    fs::create_directories(data_dir);
    fs::permissions(data_dir, private_directory | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
    for (const char* name : {"perch.db", "perch.db-wal", "perch.db-shm"}) {
        std::ofstream(data_dir / name) << "contents";
        fs::permissions(data_dir / name, loose_file);
    }
    const auto tightened = prepare_private_data_dir(data_dir, "perch.db");
    EXPECT_EQ(tightened.size(), 4U);
    EXPECT_EQ(mode_of(data_dir), private_directory);
    for (const char* name : {"perch.db", "perch.db-wal", "perch.db-shm"}) {
        EXPECT_EQ(mode_of(data_dir / name), private_file) << name;
    }
    // An existing database keeps its contents.
    std::ifstream database(data_dir / "perch.db");
    std::string contents;
    database >> contents;
    EXPECT_EQ(contents, "contents");
    EXPECT_TRUE(prepare_private_data_dir(data_dir, "perch.db").empty());
}

TEST_F(PrivateDataDir, NamesAPathItCannotCreate) {
    std::ofstream(root_ / "file") << "x";
    try {
        prepare_private_data_dir(root_ / "file" / "data", "perch.db");
        FAIL() << "expected an error";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("file"), std::string::npos) << error.what();
    }
}

} // namespace
} // namespace perch::gateway
