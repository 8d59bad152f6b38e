// `perch user|room` as an administrator runs it: the real binary on a database in a temporary
// directory, a password file written by the real mosquitto_passwd, exit statuses and messages,
// and the same commands beside a running broker on the same database.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto command_timeout = 20s;

class AdminCli : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "the administration commands are perch's own";
        }
    }

    /// Runs `perch WORDS --data-dir DIR` with `input` on standard input.
    command_result perch(std::vector<std::string> words, std::string_view input = "") {
        words.insert(words.begin(), PERCH_BROKER_PATH);
        words.emplace_back("--data-dir");
        words.push_back(data_dir().string());
        return run_command(words, input, command_timeout);
    }

    std::filesystem::path data_dir() const { return directory_.path() / "data"; }

    temporary_directory directory_;
};

TEST_F(AdminCli, ManagesUsersAndRooms) {
    auto result = perch({"user", "add", "alice", "--password", "wonderland"});
    EXPECT_TRUE(result.ending.is_success()) << describe(result.ending) << result.errors;
    EXPECT_EQ(result.output, "user 'alice' added\n");
    EXPECT_TRUE(std::filesystem::exists(data_dir() / "perch.db"));

    // Without --password and without a terminal: one line of standard input.
    result = perch({"user", "add", "bob"}, "builder\n");
    EXPECT_TRUE(result.ending.is_success()) << result.errors;
    result = perch({"user", "list"});
    EXPECT_EQ(result.output, "alice\nbob\n");

    EXPECT_TRUE(perch({"room", "create", "kitchen"}).ending.is_success());
    EXPECT_TRUE(perch({"room", "join", "kitchen", "alice"}).ending.is_success());
    EXPECT_TRUE(perch({"room", "join", "kitchen", "bob"}).ending.is_success());
    result = perch({"room", "members", "kitchen"});
    EXPECT_EQ(result.output, "alice\nbob\n");
    result = perch({"room", "leave", "kitchen", "alice"});
    EXPECT_EQ(result.output, "user 'alice' left room 'kitchen'\n");
    EXPECT_EQ(perch({"room", "members", "kitchen"}).output, "bob\n");
    EXPECT_EQ(perch({"room", "list"}).output, "kitchen\n");
    EXPECT_TRUE(perch({"room", "del", "kitchen"}).ending.is_success());
    EXPECT_EQ(perch({"room", "list"}).output, "");

    EXPECT_TRUE(perch({"user", "passwd", "bob"}, "changed\n").ending.is_success());
    result = perch({"user", "del", "alice"});
    EXPECT_EQ(result.output, "user 'alice' deleted\n");
    EXPECT_EQ(perch({"user", "list"}).output, "bob\n");
}

TEST_F(AdminCli, SetsAndClearsTheAdminFlag) {
    ASSERT_TRUE(perch({"user", "add", "alice", "--password", "pw"}).ending.is_success());
    ASSERT_TRUE(perch({"user", "add", "bob", "--password", "pw"}).ending.is_success());
    auto result = perch({"user", "admin", "alice", "on"});
    EXPECT_TRUE(result.ending.is_success()) << result.errors;
    EXPECT_EQ(result.output, "user 'alice' is an admin\n");
    EXPECT_EQ(perch({"user", "list"}).output, "alice admin\nbob\n");
    result = perch({"user", "admin", "alice", "off"});
    EXPECT_EQ(result.output, "user 'alice' is no longer an admin\n");
    EXPECT_EQ(perch({"user", "list"}).output, "alice\nbob\n");
    result = perch({"user", "admin", "nobody", "on"});
    EXPECT_EQ(result.ending.exit_code, 1);
    EXPECT_NE(result.errors.find("unknown user 'nobody'"), std::string::npos) << result.errors;
    result = perch({"user", "admin", "bob", "maybe"});
    EXPECT_EQ(result.ending.exit_code, 1);
    EXPECT_EQ(perch({"user", "list"}).output, "alice\nbob\n");
}

TEST_F(AdminCli, ModeratesRoomsAndKeepsAnAuditLog) {
    for (const std::string name : {"alice", "bob", "carol"}) {
        ASSERT_TRUE(perch({"user", "add", name, "--password", "pw"}).ending.is_success());
    }
    ASSERT_TRUE(perch({"room", "create", "den"}).ending.is_success());
    EXPECT_EQ(perch({"room", "set", "den", "visibility", "private"}).output,
              "room 'den': visibility set\n");
    EXPECT_TRUE(perch({"room", "set", "den", "topic", "quiet please"}).ending.is_success());
    EXPECT_TRUE(perch({"room", "join", "den", "alice"}).ending.is_success());
    EXPECT_TRUE(perch({"room", "join", "den", "bob"}).ending.is_success());
    EXPECT_EQ(perch({"room", "role", "den", "alice", "owner"}).output,
              "user 'alice' is now owner of room 'den'\n");
    EXPECT_TRUE(perch({"room", "mute", "den", "bob"}).ending.is_success());
    EXPECT_EQ(perch({"room", "invite", "den", "carol"}).output,
              "user 'carol' invited to room 'den'\n");
    EXPECT_EQ(perch({"room", "show", "den"}).output,
              "room: den\nname: \ntopic: quiet please\nvisibility: private\nhistory: shared\n"
              "created_by: \nmember: alice owner\nmember: bob member muted\ninvited: carol\n");
    EXPECT_TRUE(perch({"room", "ban", "den", "bob"}).ending.is_success());
    EXPECT_EQ(perch({"room", "members", "den"}).output, "alice\n");
    auto result = perch({"room", "unban", "den", "bob"});
    EXPECT_EQ(result.output, "user 'bob' unbanned from room 'den'\n");
    result = perch({"room", "unban", "den", "bob"});
    EXPECT_FALSE(result.ending.is_success());
    EXPECT_EQ(result.errors, "perch: user 'bob' is not banned from room 'den'\n");
    result = perch({"room", "kick", "den", "bob"});
    EXPECT_EQ(result.errors, "perch: user 'bob' is not a member of room 'den'\n");

    result = perch({"room", "audit", "den"});
    std::vector<std::string> actions;
    std::size_t start = 0;
    while (start < result.output.size()) {
        const std::size_t end = result.output.find('\n', start);
        const std::string line = result.output.substr(start, end - start);
        // TIME ROOM ACTOR ACTION TARGET DETAIL
        std::size_t field = 0;
        for (int skipped = 0; skipped < 3; ++skipped) {
            field = line.find(' ', field) + 1;
        }
        actions.push_back(line.substr(field, line.find(' ', field) - field));
        start = end + 1;
    }
    EXPECT_EQ(actions, (std::vector<std::string>{"set_room", "set_room", "role", "mute", "invite",
                                                 "ban", "unban"}))
        << result.output;
}

TEST_F(AdminCli, ErrorsNameWhatIsWrongAndExitNonZero) {
    ASSERT_TRUE(perch({"user", "add", "alice", "--password", "x"}).ending.is_success());
    auto result = perch({"user", "add", "alice", "--password", "y"});
    EXPECT_EQ(result.ending.exit_code, 1);
    EXPECT_EQ(result.errors, "perch: user 'alice' exists\n");
    result = perch({"room", "join", "nowhere", "alice"});
    EXPECT_EQ(result.ending.exit_code, 1);
    EXPECT_EQ(result.errors, "perch: unknown room 'nowhere'\n");
    ASSERT_TRUE(perch({"room", "create", "x"}).ending.is_success());
    result = perch({"room", "create", "x"});
    EXPECT_EQ(result.errors, "perch: room 'x' exists\n");
    result = perch({"room", "join", "x", "bob"});
    EXPECT_EQ(result.errors, "perch: unknown user 'bob'\n");
    result = perch({"user", "add", "a+b", "--password", "x"});
    EXPECT_EQ(result.ending.exit_code, 1);
    EXPECT_NE(result.errors.find("invalid user name 'a+b'"), std::string::npos) << result.errors;
    result = perch({"user", "add", "carol"}, "");
    EXPECT_EQ(result.ending.exit_code, 1);
    EXPECT_NE(result.errors.find("no password"), std::string::npos) << result.errors;

    // Usage errors exit with 2.
    EXPECT_EQ(perch({"user"}).ending.exit_code, 2);
    EXPECT_EQ(perch({"room", "explode", "x"}).ending.exit_code, 2);
    EXPECT_EQ(perch({"room", "join", "x"}).ending.exit_code, 2);
    EXPECT_EQ(perch({"user", "list", "--frobnicate"}).ending.exit_code, 2);
}

TEST_F(AdminCli, ImportsAFileWrittenByMosquittoPasswd) {
    const auto file = directory_.path() / "passwd";
    auto made = run_command({"mosquitto_passwd", "-c", "-b", file.string(), "carol", "secret"}, "",
                            command_timeout);
    ASSERT_TRUE(made.ending.is_success()) << made.errors;
    made = run_command({"mosquitto_passwd", "-b", file.string(), "dave", "hunter2"}, "",
                       command_timeout);
    ASSERT_TRUE(made.ending.is_success()) << made.errors;
    ASSERT_TRUE(perch({"user", "add", "dave", "--password", "old"}).ending.is_success());

    auto result = perch({"user", "import", file.string()});
    EXPECT_TRUE(result.ending.is_success()) << result.errors;
    EXPECT_NE(result.output.find("1 user(s) added, 1 updated"), std::string::npos) << result.output;
    EXPECT_EQ(perch({"user", "list"}).output, "carol\ndave\n");

    write_file_text(directory_.path() / "old", "eve:$6$c2FsdA==$aGFzaA==\n");
    result = perch({"user", "import", (directory_.path() / "old").string()});
    EXPECT_EQ(result.ending.exit_code, 1);
    EXPECT_NE(result.errors.find(":1: user 'eve': a $6$"), std::string::npos) << result.errors;
}

TEST_F(AdminCli, ImportsRoomsFromAFile) {
    for (const char* name : {"hana", "ivan", "jon"}) {
        ASSERT_TRUE(perch({"user", "add", name, "--password", "x"}).ending.is_success());
    }
    const auto rooms = directory_.path() / "rooms";
    write_file_text(rooms, "# room members\nlounge hana ivan\nstudio jon hana\n");
    auto result = perch({"room", "import", rooms.string()});
    EXPECT_TRUE(result.ending.is_success()) << result.errors;
    EXPECT_NE(result.output.find("2 room(s) created, 4 member(s) added"), std::string::npos)
        << result.output;
    EXPECT_EQ(perch({"room", "members", "lounge"}).output, "hana\nivan\n");
    EXPECT_EQ(perch({"room", "members", "studio"}).output, "hana\njon\n");

    write_file_text(rooms, "lounge jon\nattic kim\n");
    result = perch({"room", "import", rooms.string()});
    EXPECT_EQ(result.ending.exit_code, 1);
    EXPECT_NE(result.errors.find(":2: unknown user 'kim'"), std::string::npos) << result.errors;
    EXPECT_EQ(perch({"room", "members", "lounge"}).output, "hana\nivan\n");
    EXPECT_EQ(perch({"room", "list"}).output, "lounge\nstudio\n");
}

TEST_F(AdminCli, RunsWithoutFlagsInTheBrokersFolder) {
    // `perch` without -c keeps its store in ./data/perch.db; so does `perch user` run there.
    const std::string folder = directory_.path().string();
    const auto result =
        run_command({"sh", "-c",
                     "cd '" + folder + "' && '" + PERCH_BROKER_PATH +
                         "' user add frank --password f && '" + PERCH_BROKER_PATH + "' user list"},
                    "", command_timeout);
    EXPECT_TRUE(result.ending.is_success()) << result.errors;
    EXPECT_EQ(result.output, "user 'frank' added\nfrank\n");
    EXPECT_TRUE(std::filesystem::exists(directory_.path() / "data" / "perch.db"));
}

TEST_F(AdminCli, WorksBesideARunningBrokerWithoutStartingListeners) {
    broker_process broker(broker_kind::perch);
    const auto broker_data = broker.scratch_directory() / "data";
    // A config naming the broker's own port: the command would fail if it tried to listen.
    const auto config = broker.scratch_directory() / "admin.conf";
    write_file_text(config, "listener " + std::to_string(broker.port()) + " 127.0.0.1\ndata_dir " +
                                broker_data.string() + "\n");
    const auto run = [&](std::vector<std::string> words) {
        words.insert(words.begin(), PERCH_BROKER_PATH);
        words.emplace_back("-c");
        words.push_back(config.string());
        return run_command(words, "", command_timeout);
    };
    for (const auto& words :
         std::vector<std::vector<std::string>>{{"user", "add", "gina", "--password", "g"},
                                               {"room", "create", "lobby"},
                                               {"room", "join", "lobby", "gina"}}) {
        const auto result = run(words);
        EXPECT_TRUE(result.ending.is_success())
            << words[0] << " " << words[1] << ": " << result.errors;
    }
    EXPECT_EQ(run({"room", "members", "lobby"}).output, "gina\n");
    const process_exit ending = broker.stop();
    EXPECT_TRUE(ending.is_success()) << describe(ending) << broker.log();
}

TEST_F(AdminCli, AcceptsOptionsBeforeTheSubcommand) {
    // As docs/ASSISTANT.md writes it: `perch -c FILE room create lobby`.
    const auto config = directory_.path() / "perch.conf";
    write_file_text(config, "data_dir " + data_dir().string() + "\n");
    auto result = run_command({PERCH_BROKER_PATH, "-c", config.string(), "room", "create", "lobby"},
                              "", command_timeout);
    EXPECT_TRUE(result.ending.is_success()) << describe(result.ending) << result.errors;
    EXPECT_EQ(result.output, "room 'lobby' created\n");
    result = run_command({PERCH_BROKER_PATH, "--data-dir", data_dir().string(), "room", "list"}, "",
                         command_timeout);
    EXPECT_TRUE(result.ending.is_success()) << result.errors;
    EXPECT_EQ(result.output, "lobby\n");
}

/// The permission bits of `path`.
std::filesystem::perms mode_of(const std::filesystem::path& path) {
    return std::filesystem::status(path).permissions() & std::filesystem::perms::mask;
}

constexpr auto owner_only_directory = std::filesystem::perms::owner_all;
constexpr auto owner_only_file =
    std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

TEST_F(AdminCli, KeepsTheDatabaseToItsOwner) {
    // The database holds the password hashes and all history: nobody else may read it.
    ASSERT_TRUE(perch({"user", "add", "alice", "--password", "a"}).ending.is_success());
    EXPECT_EQ(mode_of(data_dir()), owner_only_directory);
    for (const char* name : {"perch.db", "perch.db-wal", "perch.db-shm"}) {
        if (std::filesystem::exists(data_dir() / name)) {
            EXPECT_EQ(mode_of(data_dir() / name), owner_only_file) << name;
        }
    }
    EXPECT_EQ(mode_of(data_dir() / "perch.db"), owner_only_file);
}

TEST_F(AdminCli, TightensADatabaseLeftOpenByAnOlderVersion) {
    ASSERT_TRUE(perch({"user", "add", "alice", "--password", "a"}).ending.is_success());
    using std::filesystem::perms;
    const perms loose_file = owner_only_file | perms::group_read | perms::others_read;
    std::filesystem::permissions(data_dir(), owner_only_directory | perms::group_read |
                                                 perms::group_exec | perms::others_read |
                                                 perms::others_exec);
    std::filesystem::permissions(data_dir() / "perch.db", loose_file);
    write_file_text(data_dir() / "perch.db-wal", "");
    std::filesystem::permissions(data_dir() / "perch.db-wal", loose_file);

    broker_process broker(broker_kind::perch, "data_dir " + data_dir().string() + "\n");
    const process_exit ending = broker.stop();
    EXPECT_TRUE(ending.is_success()) << describe(ending) << broker.log();
    EXPECT_EQ(mode_of(data_dir()), owner_only_directory);
    EXPECT_EQ(mode_of(data_dir() / "perch.db"), owner_only_file);
    if (std::filesystem::exists(data_dir() / "perch.db-wal")) {
        EXPECT_EQ(mode_of(data_dir() / "perch.db-wal"), owner_only_file);
    }
    EXPECT_NE(broker.log().find("permissions"), std::string::npos) << broker.log();
    EXPECT_EQ(perch({"user", "list"}).output, "alice\n");
}

} // namespace
} // namespace perch::integration
