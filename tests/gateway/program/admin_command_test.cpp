// Tests of `perch user|room`: each subcommand against a real database in a temporary directory,
// with the standard streams replaced, the messages and exit statuses of every failure.
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/chat/password_hash.hpp"
#include "gateway/common/config.hpp"
#include "gateway/program/admin_command.hpp"
#include "store/chat_store.hpp"

#include <unistd.h>

namespace perch::gateway {
namespace {

// Written by `mosquitto_passwd -c -b FILE alice secret` (Mosquitto 2.0.11).
constexpr std::string_view mosquitto_alice_secret =
    "$7$101$0m5QIjmsxysUFMWB$QJwrlNzaqYX5gAhdkc+fTy6hIoDc4uYONl0F+FUKGCTOJP1MHbBhnpXONBFOrbGi1N/"
    "PacPgqVaUrYcN7gQYRA==";

class AdminCommand : public ::testing::Test {
protected:
    AdminCommand() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        directory_ = std::filesystem::path(::testing::TempDir()) /
                     ("perch-admin-" + std::to_string(::getpid()) + "-" + info->name());
        std::filesystem::remove_all(directory_);
    }
    ~AdminCommand() override { std::filesystem::remove_all(directory_); }

    /// Runs `perch WORDS --data-dir DIR` with `input` as standard input; keeps the output.
    int run(std::vector<std::string> words, const std::string& input = "") {
        words.emplace_back("--data-dir");
        words.push_back(data_dir());
        return run_exactly(words, input);
    }

    int run_exactly(const std::vector<std::string>& words, const std::string& input = "") {
        const std::vector<std::string_view> args(words.begin(), words.end());
        std::istringstream in(input);
        output_.str("");
        errors_.str("");
        admin_io io{in, output_, errors_, {}};
        if (!terminal_lines_.empty()) {
            io.read_hidden_line = [this](std::string_view prompt) -> std::optional<std::string> {
                prompts_.emplace_back(prompt);
                if (terminal_lines_.empty()) {
                    return std::nullopt;
                }
                std::string line = terminal_lines_.front();
                terminal_lines_.pop_front();
                return line;
            };
        }
        return run_admin_command(args, io);
    }

    std::string data_dir() const { return (directory_ / "data").string(); }

    /// The directory as the gateway would load it.
    store::chat_directory_snapshot directory() {
        store::store_options options;
        options.path = (std::filesystem::path(data_dir()) / store_file_name).string();
        return store::open_chat_store(options)->load_directory();
    }

    std::string hash_of(const std::string& name) {
        for (const auto& user : directory().users) {
            if (user.name == name) {
                return user.password_hash;
            }
        }
        return "";
    }

    std::string write_file(const std::string& name, const std::string& text) {
        std::filesystem::create_directories(directory_);
        const auto path = directory_ / name;
        std::ofstream(path) << text;
        return path.string();
    }

    std::filesystem::path directory_;
    std::ostringstream output_;
    std::ostringstream errors_;
    std::deque<std::string> terminal_lines_;
    std::vector<std::string> prompts_;
};

TEST_F(AdminCommand, AddsUsersWithAHashOfTheGivenPassword) {
    EXPECT_EQ(run({"user", "add", "alice", "--password", "wonderland"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "user 'alice' added\n");
    const std::string hash = hash_of("alice");
    // A current work factor, not Mosquitto's 101.
    EXPECT_TRUE(hash.starts_with("$7$210000$")) << hash;
    EXPECT_TRUE(verify_password("wonderland", hash));
    EXPECT_EQ(run({"user", "list"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "alice\n");
}

TEST_F(AdminCommand, ReadsThePasswordFromStandardInputWithoutATerminal) {
    EXPECT_EQ(run({"user", "add", "bob"}, "from stdin\r\nignored\n"), admin_exit_ok);
    EXPECT_TRUE(verify_password("from stdin", hash_of("bob")));
}

TEST_F(AdminCommand, AsksTwiceOnATerminal) {
    terminal_lines_ = {"typed", "typed"};
    EXPECT_EQ(run({"user", "add", "carol"}), admin_exit_ok);
    EXPECT_EQ(prompts_.size(), 2u);
    EXPECT_TRUE(verify_password("typed", hash_of("carol")));

    terminal_lines_ = {"one", "other"};
    EXPECT_EQ(run({"user", "add", "dave"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("do not match"), std::string::npos) << errors_.str();
    EXPECT_EQ(hash_of("dave"), "");
}

TEST_F(AdminCommand, RefusesAnEmptyOrMissingPassword) {
    EXPECT_EQ(run({"user", "add", "erin"}, "\n"), admin_exit_failure);
    EXPECT_NE(errors_.str().find("empty"), std::string::npos) << errors_.str();
    EXPECT_EQ(run({"user", "add", "erin"}, ""), admin_exit_failure);
    EXPECT_NE(errors_.str().find("no password"), std::string::npos) << errors_.str();
    EXPECT_TRUE(directory().users.empty());
}

TEST_F(AdminCommand, NamesWhatIsWrong) {
    ASSERT_EQ(run({"user", "add", "alice", "--password", "x"}), admin_exit_ok);
    EXPECT_EQ(run({"user", "add", "alice", "--password", "y"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: user 'alice' exists\n");
    EXPECT_EQ(run({"user", "del", "bob"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: unknown user 'bob'\n");
    EXPECT_EQ(run({"user", "passwd", "bob", "--password", "z"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: unknown user 'bob'\n");
    EXPECT_EQ(run({"room", "del", "x"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: unknown room 'x'\n");
    EXPECT_EQ(run({"room", "members", "x"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: unknown room 'x'\n");
    ASSERT_EQ(run({"room", "create", "x"}), admin_exit_ok);
    EXPECT_EQ(run({"room", "create", "x"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: room 'x' exists\n");
    EXPECT_EQ(run({"room", "join", "x", "bob"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: unknown user 'bob'\n");
    EXPECT_EQ(run({"room", "join", "y", "alice"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: unknown room 'y'\n");
    EXPECT_EQ(run({"room", "leave", "x", "alice"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: user 'alice' is not a member of room 'x'\n");
}

TEST_F(AdminCommand, RefusesInvalidNames) {
    const std::vector<std::string> names = {"a/b", "a+b",       "#",
                                            "$x",  "tab\there", std::string(65, 'n')};
    for (const std::string& name : names) {
        EXPECT_EQ(run({"user", "add", name, "--password", "x"}), admin_exit_failure) << name;
        EXPECT_NE(errors_.str().find("invalid user name"), std::string::npos) << errors_.str();
        EXPECT_EQ(run({"room", "create", name}), admin_exit_failure) << name;
        EXPECT_NE(errors_.str().find("invalid room name"), std::string::npos) << errors_.str();
    }
    EXPECT_TRUE(directory().users.empty());
    EXPECT_TRUE(directory().rooms.empty());
}

TEST_F(AdminCommand, UsageErrorsExitWithTwo) {
    EXPECT_EQ(run({"user"}), admin_exit_usage);
    EXPECT_EQ(run({"user", "frobnicate"}), admin_exit_usage);
    EXPECT_NE(errors_.str().find("unknown command 'user frobnicate'"), std::string::npos);
    EXPECT_EQ(run({"user", "add"}), admin_exit_usage);
    EXPECT_EQ(run({"user", "del", "a", "b"}), admin_exit_usage);
    EXPECT_EQ(run({"room", "join", "x"}), admin_exit_usage);
    EXPECT_EQ(run({"user", "list", "--bogus"}), admin_exit_usage);
    EXPECT_EQ(run_exactly({"user", "list", "--data-dir"}), admin_exit_usage);
    EXPECT_FALSE(std::filesystem::exists(data_dir()));
}

TEST_F(AdminCommand, HelpListsEverySubcommand) {
    EXPECT_EQ(run({"user", "--help"}), admin_exit_ok);
    for (const std::string_view line :
         {"user add", "user del", "user passwd", "user list", "user admin", "user import",
          "room create", "room del", "room list", "room members", "room join", "room leave",
          "ban add", "ban remove", "ban list", "acl add", "acl remove", "acl list"}) {
        EXPECT_NE(output_.str().find(line), std::string::npos) << line;
    }
}

TEST_F(AdminCommand, ARoomCreatedWithAnOwnerHasItsCreatorAsOwnerAndAnAuditEntry) {
    run({"user", "add", "alice", "--password", "a"});
    EXPECT_EQ(run({"room", "create", "kitchen", "--owner", "alice"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "room 'kitchen' created, owned by 'alice'\n");
    const auto held = directory();
    ASSERT_EQ(held.rooms.size(), 1U);
    EXPECT_EQ(held.rooms[0].created_by, "alice");
    ASSERT_EQ(held.memberships.size(), 1U);
    EXPECT_EQ(held.memberships[0].user, "alice");
    EXPECT_EQ(held.memberships[0].role, store::room_role::owner);
    EXPECT_EQ(run({"room", "audit", "kitchen"}), admin_exit_ok);
    EXPECT_NE(output_.str().find("kitchen - create alice"), std::string::npos) << output_.str();
    // An unknown owner, and a room that exists, are refused without a change.
    EXPECT_EQ(run({"room", "create", "attic", "--owner", "mallory"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("unknown user 'mallory'"), std::string::npos) << errors_.str();
    EXPECT_EQ(run({"room", "create", "kitchen", "--owner", "alice"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("room 'kitchen' exists"), std::string::npos) << errors_.str();
    EXPECT_EQ(directory().rooms.size(), 1U);
}

TEST_F(AdminCommand, ManagesRoomsAndMembers) {
    run({"user", "add", "alice", "--password", "a"});
    run({"user", "add", "bob", "--password", "b"});
    EXPECT_EQ(run({"room", "create", "kitchen"}), admin_exit_ok);
    EXPECT_EQ(run({"room", "create", "attic"}), admin_exit_ok);
    EXPECT_EQ(run({"room", "join", "kitchen", "bob"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "user 'bob' joined room 'kitchen'\n");
    EXPECT_EQ(run({"room", "join", "kitchen", "alice"}), admin_exit_ok);
    EXPECT_EQ(run({"room", "join", "kitchen", "alice"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("already a member"), std::string::npos) << errors_.str();
    EXPECT_EQ(run({"room", "list"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "attic\nkitchen\n");
    EXPECT_EQ(run({"room", "members", "kitchen"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "alice\nbob\n");
    EXPECT_EQ(run({"room", "leave", "kitchen", "alice"}), admin_exit_ok);
    EXPECT_EQ(run({"room", "members", "kitchen"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "bob\n");
    EXPECT_EQ(run({"room", "del", "kitchen"}), admin_exit_ok);
    EXPECT_EQ(run({"room", "list"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "attic\n");
    EXPECT_TRUE(directory().memberships.empty());
}

TEST_F(AdminCommand, AddsListsAndRemovesBans) {
    EXPECT_EQ(run({"ban", "add", "user", "mallory", "--reason", "password guessing"}),
              admin_exit_ok);
    EXPECT_EQ(output_.str(), "ban of user 'mallory' added\n");
    EXPECT_EQ(run({"ban", "add", "address", "10.0.0.0/8", "--for", "2h"}), admin_exit_ok);
    EXPECT_NE(output_.str().find("until "), std::string::npos) << output_.str();
    EXPECT_EQ(run({"ban", "add", "client", "sensor-7"}), admin_exit_ok);
    const auto bans = directory().bans;
    ASSERT_EQ(bans.size(), 3U);
    EXPECT_EQ(bans[0].kind, store::ban_kind::user);
    EXPECT_EQ(bans[0].reason, "password guessing");
    EXPECT_EQ(bans[0].expires_unix_ms, 0U);
    EXPECT_EQ(bans[2].kind, store::ban_kind::address);
    EXPECT_EQ(bans[2].expires_unix_ms - bans[2].created_unix_ms, 2U * 3'600'000);
    EXPECT_EQ(run({"ban", "list"}), admin_exit_ok);
    const std::string listed = output_.str();
    EXPECT_NE(listed.find("user mallory since "), std::string::npos) << listed;
    EXPECT_NE(listed.find("forever reason: password guessing"), std::string::npos) << listed;
    EXPECT_NE(listed.find("address 10.0.0.0/8 since "), std::string::npos) << listed;
    EXPECT_EQ(run({"ban", "remove", "client", "sensor-7"}), admin_exit_ok);
    EXPECT_EQ(run({"ban", "remove", "client", "sensor-7"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("no ban of client 'sensor-7'"), std::string::npos);
    EXPECT_EQ(directory().bans.size(), 2U);
}

TEST_F(AdminCommand, RefusesBadBans) {
    EXPECT_EQ(run({"ban", "add", "address", "10.0.0.0/40"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("invalid address '10.0.0.0/40'"), std::string::npos);
    EXPECT_EQ(run({"ban", "add", "host", "x"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("unknown ban kind 'host'"), std::string::npos);
    EXPECT_EQ(run({"ban", "add", "user", "x", "--for", "soon"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("invalid duration 'soon'"), std::string::npos);
    EXPECT_EQ(run({"ban", "add", "user", "x", "--for", "0s"}), admin_exit_failure);
    EXPECT_EQ(run({"ban", "add", "user"}), admin_exit_usage);
    EXPECT_EQ(run({"ban", "add", "user", "x", "--for"}), admin_exit_usage);
    EXPECT_TRUE(directory().bans.empty());
}

TEST_F(AdminCommand, AddsListsAndRemovesAclRules) {
    EXPECT_EQ(run({"acl", "add", "--user", "alice", "readwrite", "home/#"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "rule '--user alice readwrite home/#' added\n");
    EXPECT_EQ(run({"acl", "add", "--anonymous", "read", "public/#"}), admin_exit_ok);
    EXPECT_EQ(run({"acl", "add", "--pattern", "write", "devices/%c/state"}), admin_exit_ok);
    EXPECT_EQ(run({"acl", "add", "--user", "alice", "readwrite", "home/#"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("exists already"), std::string::npos);
    EXPECT_EQ(run({"acl", "list"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "--anonymous read public/#\n"
                             "--user alice readwrite home/#\n"
                             "--pattern write devices/%c/state\n");
    EXPECT_EQ(run({"acl", "remove", "--user", "alice", "home/#"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "rule for '--user alice home/#' removed\n");
    EXPECT_EQ(run({"acl", "remove", "--user", "alice", "home/#"}), admin_exit_failure);
    EXPECT_EQ(directory().acl_rules.size(), 2U);
}

TEST_F(AdminCommand, RefusesBadAclRules) {
    EXPECT_EQ(run({"acl", "add", "read", "home/#"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("one of --user NAME, --anonymous or --pattern"),
              std::string::npos);
    EXPECT_EQ(run({"acl", "add", "--anonymous", "--pattern", "read", "home/#"}),
              admin_exit_failure);
    EXPECT_EQ(run({"acl", "add", "--anonymous", "all", "home/#"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("unknown access 'all'"), std::string::npos);
    EXPECT_EQ(run({"acl", "add", "--anonymous", "read", "home/#/x"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("invalid topic filter"), std::string::npos);
    EXPECT_EQ(run({"acl", "add", "--anonymous", "read", "$share/g/home"}), admin_exit_failure);
    EXPECT_TRUE(directory().acl_rules.empty());
}

TEST_F(AdminCommand, ChangesAndDeletesUsers) {
    run({"user", "add", "alice", "--password", "old"});
    run({"room", "create", "kitchen"});
    run({"room", "join", "kitchen", "alice"});
    EXPECT_EQ(run({"user", "passwd", "alice"}, "new\n"), admin_exit_ok);
    EXPECT_TRUE(verify_password("new", hash_of("alice")));
    EXPECT_FALSE(verify_password("old", hash_of("alice")));
    EXPECT_EQ(run({"user", "del", "alice"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "user 'alice' deleted\n");
    EXPECT_TRUE(directory().users.empty());
    EXPECT_TRUE(directory().memberships.empty());
}

TEST_F(AdminCommand, SetsAndClearsTheAdminFlagWithAnAuditEntry) {
    run({"user", "add", "alice", "--password", "a"});
    run({"user", "add", "bob", "--password", "b"});
    EXPECT_EQ(run({"user", "admin", "alice", "on"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "user 'alice' is an admin\n");
    EXPECT_EQ(run({"user", "list"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "alice admin\nbob\n");
    EXPECT_EQ(run({"user", "admin", "alice", "off"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "user 'alice' is no longer an admin\n");
    EXPECT_FALSE(directory().users[0].is_admin);
    // An unknown user or a state other than on|off changes nothing.
    EXPECT_EQ(run({"user", "admin", "mallory", "on"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("unknown user 'mallory'"), std::string::npos) << errors_.str();
    EXPECT_EQ(run({"user", "admin", "bob", "yes"}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("expected on or off"), std::string::npos) << errors_.str();
    EXPECT_EQ(run({"user", "admin", "bob"}), admin_exit_usage);
    EXPECT_FALSE(directory().users[1].is_admin);
    store::store_options options;
    options.path = (std::filesystem::path(data_dir()) / store_file_name).string();
    const auto audit = store::open_chat_store(options)->audit_log("", 10);
    ASSERT_EQ(audit.size(), 2U);
    EXPECT_EQ(audit[0].action, "admin");
    EXPECT_EQ(audit[0].target, "alice");
    EXPECT_EQ(audit[0].detail, "on");
    EXPECT_EQ(audit[1].detail, "off");
}

TEST_F(AdminCommand, ImportsAMosquittoPasswordFile) {
    run({"user", "add", "alice", "--password", "replaced"});
    const std::string file =
        write_file("passwd", "# users\nalice:" + std::string(mosquitto_alice_secret) +
                                 "\r\n\nbob:" + hash_password("builder", 1000) + "\n");
    EXPECT_EQ(run({"user", "import", file}), admin_exit_ok);
    EXPECT_NE(output_.str().find("1 user(s) added, 1 updated"), std::string::npos) << output_.str();
    EXPECT_TRUE(verify_password("secret", hash_of("alice")));
    EXPECT_TRUE(verify_password("builder", hash_of("bob")));
}

TEST_F(AdminCommand, RefusesAFileWithBadLinesNamingEachLine) {
    const std::string file = write_file("passwd", "carol:" + hash_password("c") +
                                                      "\ndave:$6$c2FsdA==$aGFzaA==\nno colon\n"
                                                      "e/f:" +
                                                      hash_password("e") + "\ngus:$7$x$y$z\n");
    EXPECT_EQ(run({"user", "import", file}), admin_exit_failure);
    const std::string errors = errors_.str();
    EXPECT_NE(errors.find(":2: user 'dave': a $6$"), std::string::npos) << errors;
    EXPECT_NE(errors.find(":3: not a 'name:hash' line"), std::string::npos) << errors;
    EXPECT_NE(errors.find(":4: invalid user name 'e/f'"), std::string::npos) << errors;
    EXPECT_NE(errors.find(":5: user 'gus': not a $7$"), std::string::npos) << errors;
    EXPECT_NE(errors.find("nothing imported (4 bad lines)"), std::string::npos) << errors;
    EXPECT_TRUE(directory().users.empty());
    EXPECT_EQ(run({"user", "import", (directory_ / "missing").string()}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("cannot read"), std::string::npos) << errors_.str();
}

TEST_F(AdminCommand, ImportsANameListedTwiceWithTheLastHash) {
    const std::string file =
        write_file("passwd", "carol:" + hash_password("first", 1) +
                                 "\ncarol:" + hash_password("second", 1) + "\n");
    EXPECT_EQ(run({"user", "import", file}), admin_exit_ok) << errors_.str();
    EXPECT_NE(output_.str().find("1 user(s) added, 1 updated"), std::string::npos) << output_.str();
    EXPECT_TRUE(verify_password("second", hash_of("carol")));
    EXPECT_FALSE(verify_password("first", hash_of("carol")));
}

TEST_F(AdminCommand, ImportsRoomsAndTheirMembers) {
    for (const char* name : {"alice", "bob", "carol"}) {
        ASSERT_EQ(run({"user", "add", name, "--password", "p"}), admin_exit_ok);
    }
    ASSERT_EQ(run({"room", "create", "attic"}), admin_exit_ok);
    ASSERT_EQ(run({"room", "join", "attic", "carol"}), admin_exit_ok);
    const std::string file = write_file("rooms", "# room members\nkitchen alice\tbob\r\n\n"
                                                 "  attic   carol alice  \nempty\n"
                                                 "kitchen bob carol\n");
    EXPECT_EQ(run({"room", "import", file}), admin_exit_ok) << errors_.str();
    EXPECT_NE(output_.str().find("2 room(s) created, 4 member(s) added, 2 already member(s)"),
              std::string::npos)
        << output_.str();
    EXPECT_EQ(run({"room", "list"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "attic\nempty\nkitchen\n");
    EXPECT_EQ(run({"room", "members", "kitchen"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "alice\nbob\ncarol\n");
    EXPECT_EQ(run({"room", "members", "attic"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "alice\ncarol\n");
    // Importing the same file again changes nothing.
    EXPECT_EQ(run({"room", "import", file}), admin_exit_ok) << errors_.str();
    EXPECT_NE(output_.str().find("0 room(s) created, 0 member(s) added, 6 already member(s)"),
              std::string::npos)
        << output_.str();
}

TEST_F(AdminCommand, RefusesARoomFileWithBadLinesNamingEachLine) {
    ASSERT_EQ(run({"user", "add", "alice", "--password", "p"}), admin_exit_ok);
    const std::string file =
        write_file("rooms", "kitchen alice\nhall alice bob\nb+d alice\nattic a/b dave\n");
    EXPECT_EQ(run({"room", "import", file}), admin_exit_failure);
    const std::string errors = errors_.str();
    EXPECT_EQ(errors.find(":1:"), std::string::npos) << errors;
    EXPECT_NE(errors.find(":2: unknown user 'bob'"), std::string::npos) << errors;
    EXPECT_NE(errors.find(":3: invalid room name 'b+d'"), std::string::npos) << errors;
    EXPECT_NE(errors.find(":4: invalid user name 'a/b', unknown user 'dave'"), std::string::npos)
        << errors;
    EXPECT_NE(errors.find("nothing imported (3 bad lines)"), std::string::npos) << errors;
    EXPECT_TRUE(directory().rooms.empty());
    EXPECT_TRUE(directory().memberships.empty());
    EXPECT_EQ(run({"room", "import", (directory_ / "missing").string()}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("cannot read"), std::string::npos) << errors_.str();
    EXPECT_EQ(run({"room", "import"}), admin_exit_usage);
}

TEST_F(AdminCommand, ImportsHundredsOfUsersIntoTwentyRooms) {
    std::string users;
    std::string rooms;
    const std::string hash = hash_password("p", 1);
    for (int room = 0; room < 20; ++room) {
        rooms += "r" + std::to_string(room);
        for (int member = 0; member < 20; ++member) {
            const std::string name = "u" + std::to_string(room * 20 + member);
            users += name + ":" + hash + "\n";
            rooms += " " + name;
        }
        rooms += "\n";
    }
    EXPECT_EQ(run({"user", "import", write_file("passwd", users)}), admin_exit_ok) << errors_.str();
    EXPECT_EQ(run({"room", "import", write_file("rooms", rooms)}), admin_exit_ok) << errors_.str();
    EXPECT_NE(output_.str().find("20 room(s) created, 400 member(s) added"), std::string::npos)
        << output_.str();
    const auto loaded = directory();
    EXPECT_EQ(loaded.users.size(), 400u);
    EXPECT_EQ(loaded.rooms.size(), 20u);
    EXPECT_EQ(loaded.memberships.size(), 400u);
}

TEST_F(AdminCommand, TakesTheDataDirectoryFromTheConfigFile) {
    const std::string config = write_file("perch.conf", "data_dir " + data_dir() + "\n");
    EXPECT_EQ(run_exactly({"user", "add", "alice", "-c", config, "--password", "x"}),
              admin_exit_ok);
    EXPECT_TRUE(verify_password("x", hash_of("alice")));
}

TEST_F(AdminCommand, HashesWithThePasswordIterationsOfTheConfigFile) {
    const std::string config =
        write_file("perch.conf", "data_dir " + data_dir() + "\npassword_iterations 1000\n");
    EXPECT_EQ(run_exactly({"user", "add", "alice", "-c", config, "--password", "x"}),
              admin_exit_ok);
    EXPECT_EQ(password_hash_iterations(hash_of("alice")), 1000U);
    EXPECT_EQ(run_exactly({"-c", config, "user", "passwd", "alice", "--password", "y"}),
              admin_exit_ok);
    EXPECT_EQ(password_hash_iterations(hash_of("alice")), 1000U);
    EXPECT_TRUE(verify_password("y", hash_of("alice")));
}

TEST_F(AdminCommand, ListsAndRevokesDeviceTokens) {
    const std::string config =
        write_file("perch.conf", "data_dir " + data_dir() + "\npassword_iterations 1\n");
    ASSERT_EQ(run_exactly({"user", "add", "alice", "-c", config, "--password", "x"}),
              admin_exit_ok);
    {
        store::store_options options;
        options.path = (std::filesystem::path(data_dir()) / store_file_name).string();
        auto store = store::open_chat_store(options);
        for (const char* device : {"phone", "laptop"}) {
            store->set_device_token({"alice", device, "00", 1'764'990'433'000}, {});
        }
        store->flush();
    }
    EXPECT_EQ(run({"user", "tokens", "alice"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "laptop 2025-12-06T03:07:13Z\nphone 2025-12-06T03:07:13Z\n");
    EXPECT_EQ(run({"user", "revoke-token", "alice", "phone"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "token of 'alice' on device 'phone' revoked\n");
    EXPECT_EQ(run({"user", "revoke-token", "alice", "phone"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: user 'alice' has no token for device 'phone'\n");
    EXPECT_EQ(run({"user", "tokens", "bob"}), admin_exit_failure);
    EXPECT_EQ(errors_.str(), "perch: unknown user 'bob'\n");
    // A new password ends every device's token.
    EXPECT_EQ(run_exactly({"user", "passwd", "alice", "-c", config, "--password", "y"}),
              admin_exit_ok);
    EXPECT_EQ(run({"user", "tokens", "alice"}), admin_exit_ok);
    EXPECT_EQ(output_.str(), "");
}

TEST_F(AdminCommand, RefusesAPasswordInTheFormOfADeviceToken) {
    const std::string token = "tok:" + std::string(64, 'a');
    EXPECT_EQ(run({"user", "add", "alice", "--password", token}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("device token"), std::string::npos) << errors_.str();
}

TEST_F(AdminCommand, RefusesAConfigurationWithoutAStore) {
    const std::string config = write_file("perch.conf", "persistence false\n");
    EXPECT_EQ(run_exactly({"user", "list", "-c", config}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("keeps no store"), std::string::npos) << errors_.str();
    const std::string broken = write_file("broken.conf", "no_such_key 1\n");
    EXPECT_EQ(run_exactly({"user", "list", "-c", broken}), admin_exit_failure);
    EXPECT_NE(errors_.str().find("no_such_key"), std::string::npos) << errors_.str();
}

} // namespace
} // namespace perch::gateway
