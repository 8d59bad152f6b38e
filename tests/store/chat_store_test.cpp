// Behaviour every chat store shares, run against the SQLite, memory and PostgreSQL implementations:
// each directory change and its result codes, history pages, heads, retention and read positions;
// then what only the SQLite store can show: a second process's changes, reopening and migration.
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/schema.hpp"

#include "postgres_backend.hpp"
#include "store_test_support.hpp"
#include <sqlite3.h>

namespace perch::store {
namespace {

using namespace testing_support;

struct sqlite_backend {
    static std::unique_ptr<chat_store> open(store_options options) {
        options.durability = durability_level::full;
        return open_chat_store(options);
    }
    /// Closes the file and opens it again.
    static void reopen(std::unique_ptr<chat_store>& store, const store_options& options) {
        store.reset();
        store = open(options);
    }
};

struct memory_backend {
    static std::unique_ptr<chat_store> open(store_options options) {
        options.durability = durability_level::none;
        return open_chat_store(options);
    }
    /// Memory does not survive a close: the same store is read again.
    static void reopen(std::unique_ptr<chat_store>&, const store_options&) {}
};

/// The outcome of one directory change.
struct directory_outcome {
    directory_result result = directory_result::failed;
    store_status status;
};

/// Waits for a directory change's completion.
template <typename Call> directory_outcome change(Call call) {
    std::promise<directory_outcome> outcome;
    call([&](directory_result result, const store_status& status) {
        outcome.set_value(directory_outcome{result, status});
    });
    return outcome.get_future().get();
}

user_record user(std::string name, std::string hash = "$7$101$c2FsdA==$aGFzaA==") {
    return user_record{std::move(name), std::move(hash), 1'700'000'000'000};
}

room_record room(std::string name, std::string created_by = "") {
    return room_record{std::move(name), std::move(created_by), 1'700'000'000'500};
}

history_record message(std::string conversation, std::uint64_t id, std::uint64_t ts_unix_ms = 0) {
    return history_record{conversation, id,
                          "alice",      "chat/" + conversation,
                          ts_unix_ms,   bytes_of("message " + std::to_string(id))};
}

std::vector<std::uint64_t> ids_of(const std::vector<history_record>& records) {
    std::vector<std::uint64_t> ids;
    for (const auto& record : records) {
        ids.push_back(record.id);
    }
    return ids;
}

template <typename Backend> class ChatStore : public ::testing::Test {
protected:
    ChatStore() {
        options_.path = database_.path();
        options_.commit_interval_ms = 1;
    }
    void SetUp() override {
        if (const std::string reason = backend_skip_reason<Backend>(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        store_ = Backend::open(options_);
    }

    chat_store& store() { return *store_; }

    /// Writes everything and reopens.
    void reopen() {
        store_->flush();
        Backend::reopen(store_, options_);
    }

    directory_result add_user(std::string name) {
        return change([&](directory_completion done) {
                   store().add_user(user(std::move(name)), std::move(done));
               })
            .result;
    }
    directory_result add_room(std::string name) {
        return change([&](directory_completion done) {
                   store().add_room(room(std::move(name)), std::move(done));
               })
            .result;
    }
    directory_result add_member(std::string room_name, std::string user_name) {
        return change([&](directory_completion done) {
                   store().add_member({std::move(room_name), std::move(user_name)},
                                      std::move(done));
               })
            .result;
    }

    struct batch_result {
        directory_result result = directory_result::failed;
        std::size_t refused_index = 0;
    };
    batch_result apply(std::vector<directory_change> changes) {
        std::promise<batch_result> outcome;
        store().apply_directory_changes(
            std::move(changes),
            [&](directory_result result, std::size_t refused_index, const store_status& status) {
                EXPECT_TRUE(status.is_ok()) << status.detail;
                outcome.set_value({result, refused_index});
            });
        return outcome.get_future().get();
    }

    std::vector<history_record> page(const std::string& conversation, std::uint64_t before_id,
                                     std::size_t limit) {
        std::promise<std::vector<history_record>> result;
        store().history_page(conversation, before_id, limit,
                             [&](std::vector<history_record> records, const store_status& status) {
                                 EXPECT_TRUE(status.is_ok()) << status.detail;
                                 result.set_value(std::move(records));
                             });
        return result.get_future().get();
    }

    std::vector<history_record> after(const std::string& conversation, std::uint64_t after_id,
                                      std::uint64_t since_unix_ms, std::size_t limit) {
        std::promise<std::vector<history_record>> result;
        store().read_history_after(
            conversation, after_id, since_unix_ms, limit,
            [&](std::vector<history_record> records, const store_status& status) {
                EXPECT_TRUE(status.is_ok()) << status.detail;
                result.set_value(std::move(records));
            });
        return result.get_future().get();
    }

    std::vector<read_position_record> positions(const std::string& user_name) {
        std::promise<std::vector<read_position_record>> result;
        store().read_positions(
            user_name, [&](std::vector<read_position_record> records, const store_status& status) {
                EXPECT_TRUE(status.is_ok()) << status.detail;
                result.set_value(std::move(records));
            });
        return result.get_future().get();
    }

    std::vector<read_state_record> read_state(const std::string& user_name,
                                              std::vector<conversation_head> heads,
                                              std::uint64_t unread_cap) {
        std::promise<std::vector<read_state_record>> result;
        store().read_state(user_name, std::move(heads), unread_cap,
                           [&](std::vector<read_state_record> records, const store_status& status) {
                               EXPECT_TRUE(status.is_ok()) << status.detail;
                               result.set_value(std::move(records));
                           });
        return result.get_future().get();
    }

    temporary_database database_;
    store_options options_;
    std::unique_ptr<chat_store> store_;
};

using backends = ::testing::Types<sqlite_backend, memory_backend, postgres_backend>;
TYPED_TEST_SUITE(ChatStore, backends);

TYPED_TEST(ChatStore, NewStoreHasAnEmptyDirectory) {
    const chat_directory_snapshot snapshot = this->store().load_directory();
    EXPECT_TRUE(snapshot.users.empty());
    EXPECT_TRUE(snapshot.rooms.empty());
    EXPECT_TRUE(snapshot.memberships.empty());
    EXPECT_EQ(snapshot.version, this->store().directory_version());
    EXPECT_TRUE(this->store().conversation_heads().empty());
}

TYPED_TEST(ChatStore, AddUserRefusesATakenName) {
    EXPECT_EQ(this->add_user("alice"), directory_result::done);
    EXPECT_EQ(this->add_user("alice"), directory_result::already_exists);
    EXPECT_EQ(this->add_user("bob"), directory_result::done);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    EXPECT_EQ(snapshot.users, (std::vector<user_record>{user("alice"), user("bob")}));
}

TYPED_TEST(ChatStore, SetPasswordReplacesTheHashOfAKnownUserOnly) {
    this->add_user("alice");
    const auto changed = change([&](directory_completion done) {
        this->store().set_password("alice", "$7$101$bmV3$bmV3", std::move(done));
    });
    EXPECT_EQ(changed.result, directory_result::done);
    const auto unknown = change([&](directory_completion done) {
        this->store().set_password("nobody", "$7$1$eA==$eA==", std::move(done));
    });
    EXPECT_EQ(unknown.result, directory_result::not_found);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    ASSERT_EQ(snapshot.users.size(), 1u);
    EXPECT_EQ(snapshot.users[0].password_hash, "$7$101$bmV3$bmV3");
}

TYPED_TEST(ChatStore, ABatchOfDirectoryChangesIsAppliedWhole) {
    this->add_user("alice");
    const std::uint64_t before = this->store().directory_version();
    const auto applied = this->apply({
        directory_change::adding_user(user("bob")),
        directory_change::setting_password("alice", "$7$101$bmV3$bmV3"),
        directory_change::adding_room(room("kitchen")),
        directory_change::adding_member({"kitchen", "bob"}),
        directory_change::adding_member({"kitchen", "alice"}),
    });
    EXPECT_EQ(applied.result, directory_result::done);
    EXPECT_EQ(applied.refused_index, 5U);
    EXPECT_GT(this->store().directory_version(), before);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    ASSERT_EQ(snapshot.users.size(), 2U);
    EXPECT_EQ(snapshot.users[0].name, "alice");
    EXPECT_EQ(snapshot.users[0].password_hash, "$7$101$bmV3$bmV3");
    EXPECT_EQ(snapshot.users[1], user("bob"));
    EXPECT_EQ(snapshot.rooms, (std::vector<room_record>{room("kitchen")}));
    EXPECT_EQ(snapshot.memberships.size(), 2U);
}

// All or nothing: a change refused part-way leaves the directory as it was, the changes before it
// included, and says which change it was.
TYPED_TEST(ChatStore, ABatchWithARefusedChangeAppliesNothing) {
    this->add_user("alice");
    const std::uint64_t before = this->store().directory_version();
    const auto refused = this->apply({
        directory_change::adding_user(user("bob")),
        directory_change::adding_room(room("kitchen")),
        directory_change::adding_member({"kitchen", "carol"}),
        directory_change::adding_member({"kitchen", "bob"}),
    });
    EXPECT_EQ(refused.result, directory_result::not_found);
    EXPECT_EQ(refused.refused_index, 2U);
    EXPECT_EQ(this->store().directory_version(), before);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    EXPECT_EQ(snapshot.users, (std::vector<user_record>{user("alice")}));
    EXPECT_TRUE(snapshot.rooms.empty());
    EXPECT_TRUE(snapshot.memberships.empty());
}

TYPED_TEST(ChatStore, TheAdminFlagIsSetAndClearedForAKnownUserOnly) {
    this->add_user("alice");
    this->add_user("bob");
    const std::uint64_t before = this->store().directory_version();
    EXPECT_EQ(this->apply({directory_change::setting_admin("alice", true)}).result,
              directory_result::done);
    EXPECT_GT(this->store().directory_version(), before);
    const auto unknown = this->apply({directory_change::setting_admin("nobody", true)});
    EXPECT_EQ(unknown.result, directory_result::not_found);
    EXPECT_EQ(unknown.refused_index, 0U);
    this->reopen();
    auto snapshot = this->store().load_directory();
    ASSERT_EQ(snapshot.users.size(), 2U);
    EXPECT_TRUE(snapshot.users[0].is_admin);
    EXPECT_FALSE(snapshot.users[1].is_admin);

    EXPECT_EQ(this->apply({directory_change::setting_admin("alice", false)}).result,
              directory_result::done);
    this->reopen();
    snapshot = this->store().load_directory();
    EXPECT_FALSE(snapshot.users[0].is_admin);
}

TYPED_TEST(ChatStore, AUserAddedAsAdminAndRemovedInABatchLosesTheFlag) {
    user_record carol = user("carol");
    carol.is_admin = true;
    EXPECT_EQ(this->apply({directory_change::adding_user(carol)}).result, directory_result::done);
    EXPECT_EQ(this->store().load_directory().users, (std::vector<user_record>{carol}));
    EXPECT_EQ(
        this->apply({directory_change::removing_user("carol"),
                     directory_change::auditing({0, 5, "", "root", "user_delete", "carol", ""})})
            .result,
        directory_result::done);
    EXPECT_EQ(this->apply({directory_change::removing_user("carol")}).result,
              directory_result::not_found);
    // A user of the same name later starts without the flag.
    this->add_user("carol");
    this->reopen();
    EXPECT_EQ(this->store().load_directory().users, (std::vector<user_record>{user("carol")}));
    const auto audit = this->store().audit_log("", 10);
    ASSERT_EQ(audit.size(), 1U);
    EXPECT_EQ(audit[0].actor, "root");
    EXPECT_EQ(audit[0].action, "user_delete");
}

TYPED_TEST(ChatStore, BansInABatchAreAddedAndRemovedWithTheirAuditEntry) {
    const ban_record ban{ban_kind::user, "mallory", "spam", 1'000, 0};
    EXPECT_EQ(
        this->apply({directory_change::of_server_ban(directory_change::action::add_ban, ban),
                     directory_change::auditing({0, 1'000, "", "root", "ban", "mallory", ""})})
            .result,
        directory_result::done);
    this->reopen();
    EXPECT_EQ(this->store().load_directory().bans, (std::vector<ban_record>{ban}));
    // Refused as a whole: the removal before the refused change stays undone.
    const auto refused =
        this->apply({directory_change::of_server_ban(directory_change::action::remove_ban, ban),
                     directory_change::setting_admin("nobody", true)});
    EXPECT_EQ(refused.result, directory_result::not_found);
    EXPECT_EQ(this->store().load_directory().bans, (std::vector<ban_record>{ban}));
    EXPECT_EQ(
        this->apply({directory_change::of_server_ban(directory_change::action::remove_ban, ban)})
            .result,
        directory_result::done);
    EXPECT_EQ(
        this->apply({directory_change::of_server_ban(directory_change::action::remove_ban, ban)})
            .result,
        directory_result::not_found);
    this->reopen();
    EXPECT_TRUE(this->store().load_directory().bans.empty());
    EXPECT_EQ(this->store().audit_log("", 10).size(), 1U);
}

TYPED_TEST(ChatStore, RoomsAndMembersKeepTheirFields) {
    const room_record kitchen = room("kitchen", "alice");
    EXPECT_EQ(change([&](directory_completion done) {
                  this->store().add_room(kitchen, std::move(done));
              }).result,
              directory_result::done);
    EXPECT_EQ(this->add_room("kitchen"), directory_result::already_exists);
    this->add_room("attic");
    this->add_user("alice");
    this->add_user("bob");
    EXPECT_EQ(this->add_member("kitchen", "bob"), directory_result::done);
    EXPECT_EQ(this->add_member("kitchen", "alice"), directory_result::done);
    EXPECT_EQ(this->add_member("kitchen", "alice"), directory_result::already_exists);
    EXPECT_EQ(this->add_member("cellar", "alice"), directory_result::not_found);
    EXPECT_EQ(this->add_member("kitchen", "carol"), directory_result::not_found);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    EXPECT_EQ(snapshot.rooms, (std::vector<room_record>{room("attic"), kitchen}));
    EXPECT_EQ(snapshot.memberships,
              (std::vector<membership_record>{{"kitchen", "alice"}, {"kitchen", "bob"}}));
}

TYPED_TEST(ChatStore, RemoveMemberReportsANonMember) {
    this->add_room("kitchen");
    this->add_user("alice");
    this->add_member("kitchen", "alice");
    const auto remove = [&](std::string room_name, std::string user_name) {
        return change([&](directory_completion done) {
                   this->store().remove_member({room_name, user_name}, std::move(done));
               })
            .result;
    };
    EXPECT_EQ(remove("kitchen", "alice"), directory_result::done);
    EXPECT_EQ(remove("kitchen", "alice"), directory_result::not_found);
    EXPECT_EQ(remove("cellar", "alice"), directory_result::not_found);
    EXPECT_TRUE(this->store().load_directory().memberships.empty());
}

TYPED_TEST(ChatStore, RemoveRoomTakesItsMembersButKeepsHistory) {
    this->add_room("kitchen");
    this->add_room("attic");
    this->add_user("alice");
    this->add_member("kitchen", "alice");
    this->add_member("attic", "alice");
    this->store().append_history(message("room/kitchen", 1));
    const auto remove = [&](std::string name) {
        return change([&](directory_completion done) {
                   this->store().remove_room(name, std::move(done));
               })
            .result;
    };
    EXPECT_EQ(remove("kitchen"), directory_result::done);
    EXPECT_EQ(remove("kitchen"), directory_result::not_found);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    EXPECT_EQ(snapshot.rooms, (std::vector<room_record>{room("attic")}));
    EXPECT_EQ(snapshot.memberships, (std::vector<membership_record>{{"attic", "alice"}}));
    EXPECT_EQ(ids_of(this->page("room/kitchen", 0, 10)), (std::vector<std::uint64_t>{1}));
}

TYPED_TEST(ChatStore, RemoveUserTakesMembershipsAndReadPositionsButKeepsHistory) {
    this->add_room("kitchen");
    this->add_user("alice");
    this->add_user("bob");
    this->add_member("kitchen", "alice");
    this->add_member("kitchen", "bob");
    this->store().append_history(message("room/kitchen", 1));
    this->store().set_read_position({"alice", "room/kitchen", 1});
    this->store().set_read_position({"bob", "room/kitchen", 1});
    const auto remove = [&](std::string name) {
        return change([&](directory_completion done) {
                   this->store().remove_user(name, std::move(done));
               })
            .result;
    };
    EXPECT_EQ(remove("alice"), directory_result::done);
    EXPECT_EQ(remove("alice"), directory_result::not_found);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    EXPECT_EQ(snapshot.users, (std::vector<user_record>{user("bob")}));
    EXPECT_EQ(snapshot.memberships, (std::vector<membership_record>{{"kitchen", "bob"}}));
    EXPECT_TRUE(this->positions("alice").empty());
    EXPECT_EQ(this->positions("bob").size(), 1u);
    EXPECT_EQ(this->page("room/kitchen", 0, 10).size(), 1u);
}

device_token_record token(std::string user_name, std::string device, std::string hash) {
    return device_token_record{std::move(user_name), std::move(device), std::move(hash),
                               1'700'000'000'900};
}

TYPED_TEST(ChatStore, KeepsOneDeviceTokenPerDevice) {
    this->add_user("alice");
    const auto set = [&](device_token_record record) {
        return change([&](directory_completion done) {
                   this->store().set_device_token(std::move(record), std::move(done));
               })
            .result;
    };
    const std::uint64_t before = this->store().directory_version();
    EXPECT_EQ(set(token("alice", "phone", "aa")), directory_result::done);
    EXPECT_GT(this->store().directory_version(), before);
    EXPECT_EQ(set(token("alice", "laptop", "bb")), directory_result::done);
    // A second token for the same device replaces the first.
    EXPECT_EQ(set(token("alice", "phone", "cc")), directory_result::done);
    EXPECT_EQ(set(token("nobody", "phone", "dd")), directory_result::not_found);
    this->reopen();
    EXPECT_EQ(this->store().load_directory().device_tokens,
              (std::vector<device_token_record>{token("alice", "laptop", "bb"),
                                                token("alice", "phone", "cc")}));

    const auto revoke = [&](std::string device) {
        return change([&](directory_completion done) {
                   this->store().remove_device_token("alice", device, std::move(done));
               })
            .result;
    };
    EXPECT_EQ(revoke("phone"), directory_result::done);
    EXPECT_EQ(revoke("phone"), directory_result::not_found);
    EXPECT_EQ(this->store().load_directory().device_tokens,
              (std::vector<device_token_record>{token("alice", "laptop", "bb")}));
}

TYPED_TEST(ChatStore, PasswordChangeAndUserDeletionRevokeDeviceTokens) {
    this->add_user("alice");
    this->add_user("bob");
    for (const auto& record : {token("alice", "phone", "aa"), token("bob", "phone", "bb")}) {
        change([&](directory_completion done) {
            this->store().set_device_token(record, std::move(done));
        });
    }
    EXPECT_EQ(change([&](directory_completion done) {
                  this->store().set_password("alice", "$7$101$bmV3$bmV3", std::move(done));
              }).result,
              directory_result::done);
    EXPECT_EQ(this->store().load_directory().device_tokens,
              (std::vector<device_token_record>{token("bob", "phone", "bb")}));
    EXPECT_EQ(change([&](directory_completion done) {
                  this->store().remove_user("bob", std::move(done));
              }).result,
              directory_result::done);
    this->reopen();
    EXPECT_TRUE(this->store().load_directory().device_tokens.empty());
}

TYPED_TEST(ChatStore, UpgradesAPasswordHashOnlyWhileItIsUnchanged) {
    this->add_user("alice");
    const std::string old_hash = user("alice").password_hash;
    change([&](directory_completion done) {
        this->store().set_device_token(token("alice", "phone", "aa"), std::move(done));
    });
    const auto upgrade = [&](std::string name, std::string from, std::string to) {
        return change([&](directory_completion done) {
                   this->store().upgrade_password_hash(name, from, to, std::move(done));
               })
            .result;
    };
    EXPECT_EQ(upgrade("alice", "$7$1$stale$stale", "$7$9$x$y"), directory_result::not_found);
    EXPECT_EQ(upgrade("nobody", old_hash, "$7$9$x$y"), directory_result::not_found);
    EXPECT_EQ(upgrade("alice", old_hash, "$7$210000$bmV3$bmV3"), directory_result::done);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    ASSERT_EQ(snapshot.users.size(), 1U);
    EXPECT_EQ(snapshot.users[0].password_hash, "$7$210000$bmV3$bmV3");
    // The same password, hashed again: the devices keep their tokens.
    EXPECT_EQ(snapshot.device_tokens.size(), 1U);
}

TYPED_TEST(ChatStore, DirectoryVersionMovesOnlyWithChanges) {
    const std::uint64_t start = this->store().directory_version();
    this->add_user("alice");
    const std::uint64_t after_add = this->store().directory_version();
    EXPECT_NE(after_add, start);
    this->add_user("alice");
    this->add_member("nowhere", "alice");
    EXPECT_EQ(this->store().directory_version(), after_add);
    this->add_room("kitchen");
    EXPECT_NE(this->store().directory_version(), after_add);
    EXPECT_EQ(this->store().load_directory().version, this->store().directory_version());
    // History does not touch the directory.
    const std::uint64_t before_history = this->store().directory_version();
    this->store().append_history(message("room/kitchen", 1));
    this->store().flush();
    EXPECT_EQ(this->store().directory_version(), before_history);
}

TYPED_TEST(ChatStore, BansAreReplacedByKindAndValueAndExpiredOnesGo) {
    const auto add = [&](ban_record ban) {
        return change([&](directory_completion done) {
                   this->store().add_ban(std::move(ban), std::move(done));
               })
            .result;
    };
    const std::uint64_t start = this->store().directory_version();
    EXPECT_EQ(add({ban_kind::user, "mallory", "guessing", 1'000, 0}), directory_result::done);
    EXPECT_EQ(add({ban_kind::address, "10.0.0.0/8", "", 1'000, 5'000}), directory_result::done);
    EXPECT_EQ(add({ban_kind::client, "mallory", "", 1'000, 0}), directory_result::done);
    EXPECT_NE(this->store().directory_version(), start);
    // The same kind and value: the reason and the expiry are replaced.
    EXPECT_EQ(add({ban_kind::user, "mallory", "again", 2'000, 9'000}), directory_result::done);
    this->reopen();
    EXPECT_EQ(this->store().load_directory().bans,
              (std::vector<ban_record>{{ban_kind::user, "mallory", "again", 2'000, 9'000},
                                       {ban_kind::client, "mallory", "", 1'000, 0},
                                       {ban_kind::address, "10.0.0.0/8", "", 1'000, 5'000}}));
    // A ban added later deletes those that ended before it.
    EXPECT_EQ(add({ban_kind::address, "::1", "", 6'000, 0}), directory_result::done);
    const auto bans = this->store().load_directory().bans;
    ASSERT_EQ(bans.size(), 3U);
    EXPECT_EQ(bans[2].value, "::1");
    EXPECT_EQ(change([&](directory_completion done) {
                  this->store().remove_ban(ban_kind::client, "mallory", std::move(done));
              }).result,
              directory_result::done);
    EXPECT_EQ(change([&](directory_completion done) {
                  this->store().remove_ban(ban_kind::user, "nobody", std::move(done));
              }).result,
              directory_result::not_found);
    EXPECT_EQ(this->store().load_directory().bans.size(), 2U);
}

TYPED_TEST(ChatStore, AclRulesAreKeyedByScopeUserAndFilter) {
    const auto add = [&](acl_rule_record rule) {
        return change([&](directory_completion done) {
                   this->store().add_acl_rule(std::move(rule), std::move(done));
               })
            .result;
    };
    const auto remove = [&](acl_rule_record rule) {
        return change([&](directory_completion done) {
                   this->store().remove_acl_rule(std::move(rule), std::move(done));
               })
            .result;
    };
    EXPECT_EQ(add({acl_scope::user, "alice", "read", "home/#", 1}), directory_result::done);
    EXPECT_EQ(add({acl_scope::anonymous, "", "read", "public/#", 1}), directory_result::done);
    EXPECT_EQ(add({acl_scope::pattern, "", "readwrite", "devices/%c/#", 1}),
              directory_result::done);
    const std::uint64_t version = this->store().directory_version();
    EXPECT_EQ(add({acl_scope::user, "alice", "read", "home/#", 2}),
              directory_result::already_exists);
    EXPECT_EQ(this->store().directory_version(), version);
    // Another access for the same rule replaces it.
    EXPECT_EQ(add({acl_scope::user, "alice", "deny", "home/#", 3}), directory_result::done);
    this->reopen();
    EXPECT_EQ(
        this->store().load_directory().acl_rules,
        (std::vector<acl_rule_record>{{acl_scope::anonymous, "", "read", "public/#", 1},
                                      {acl_scope::user, "alice", "deny", "home/#", 3},
                                      {acl_scope::pattern, "", "readwrite", "devices/%c/#", 1}}));
    EXPECT_EQ(remove({acl_scope::user, "alice", "", "home/#", 0}), directory_result::done);
    EXPECT_EQ(remove({acl_scope::user, "bob", "", "home/#", 0}), directory_result::not_found);
    EXPECT_EQ(this->store().load_directory().acl_rules.size(), 2U);
}

TYPED_TEST(ChatStore, HistoryPagesGoBackwardsAndReturnOldestFirst) {
    for (std::uint64_t id = 1; id <= 10; ++id) {
        this->store().append_history(message("room/kitchen", id, 1000 + id));
    }
    this->store().append_history(message("dm/alice/bob", 1));
    this->store().flush();
    EXPECT_EQ(ids_of(this->page("room/kitchen", 0, 3)), (std::vector<std::uint64_t>{8, 9, 10}));
    EXPECT_EQ(ids_of(this->page("room/kitchen", 8, 3)), (std::vector<std::uint64_t>{5, 6, 7}));
    EXPECT_EQ(ids_of(this->page("room/kitchen", 3, 5)), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_TRUE(this->page("room/kitchen", 1, 5).empty());
    EXPECT_TRUE(this->page("room/kitchen", 0, 0).empty());
    EXPECT_TRUE(this->page("room/attic", 0, 5).empty());
    EXPECT_EQ(this->page("room/kitchen", 0, 100).size(), 10u);
    const auto full = this->page("room/kitchen", 5, 1);
    ASSERT_EQ(full.size(), 1u);
    EXPECT_EQ(full[0], message("room/kitchen", 4, 1004));
}

TYPED_TEST(ChatStore, AnIdIsWrittenOnceAndTheFirstWriteWins) {
    this->store().append_history(message("room/kitchen", 1));
    history_record again = message("room/kitchen", 1);
    again.payload = bytes_of("rewritten");
    completion_recorder recorder;
    this->store().append_history(again, recorder.record());
    this->store().flush();
    EXPECT_EQ(recorder.failures(), 0u);
    const auto records = this->page("room/kitchen", 0, 10);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].payload, bytes_of("message 1"));
}

TYPED_TEST(ChatStore, HeadsSurviveReopenAndRetention) {
    this->store().append_history(message("room/kitchen", 1, 10));
    this->store().append_history(message("room/kitchen", 2, 20));
    this->store().append_history(message("dm/alice/bob", 7, 30));
    completion_recorder recorder;
    this->store().prune_history(1'000, 0, recorder.record());
    this->reopen();
    EXPECT_EQ(recorder.count(), 1u);
    EXPECT_TRUE(this->page("room/kitchen", 0, 10).empty());
    EXPECT_EQ(this->store().conversation_heads(),
              (std::vector<conversation_head>{{"dm/alice/bob", 7}, {"room/kitchen", 2}}));
}

TYPED_TEST(ChatStore, PruneDeletesByAgeButKeepsTheNewestOfEachConversation) {
    // Appended in time order, as the gateway stamps them (docs/DECISIONS.md "History without an
    // index by time" for rows that are not).
    this->store().append_history(message("room/attic", 1, 100));
    for (std::uint64_t id = 1; id <= 6; ++id) {
        this->store().append_history(message("room/kitchen", id, id * 100));
    }
    this->store().append_history(message("room/attic", 2, 900));
    // Older than 450: kitchen 1..4 and attic 1; the newest three of each conversation stay.
    this->store().prune_history(450, 3);
    this->store().flush();
    EXPECT_EQ(ids_of(this->page("room/kitchen", 0, 10)), (std::vector<std::uint64_t>{4, 5, 6}));
    EXPECT_EQ(ids_of(this->page("room/attic", 0, 10)), (std::vector<std::uint64_t>{1, 2}));
    // Without a count only age matters.
    this->store().prune_history(550, 0);
    this->store().flush();
    EXPECT_EQ(ids_of(this->page("room/kitchen", 0, 10)), (std::vector<std::uint64_t>{6}));
    EXPECT_EQ(ids_of(this->page("room/attic", 0, 10)), (std::vector<std::uint64_t>{2}));
}

TYPED_TEST(ChatStore, ReadPositionsNeverMoveBackwards) {
    this->store().set_read_position({"alice", "room/kitchen", 5});
    this->store().set_read_position({"alice", "room/kitchen", 3});
    this->store().set_read_position({"alice", "dm/alice/bob", 2});
    this->store().set_read_position({"bob", "room/kitchen", 9});
    this->reopen();
    EXPECT_EQ(this->positions("alice"),
              (std::vector<read_position_record>{{"alice", "dm/alice/bob", 2},
                                                 {"alice", "room/kitchen", 5}}));
    this->store().set_read_position({"alice", "room/kitchen", 8});
    EXPECT_EQ(this->positions("alice")[1].id, 8u);
    EXPECT_TRUE(this->positions("carol").empty());
}

TYPED_TEST(ChatStore, ReadStateCountsOthersMessagesAfterThePositionUpToTheCap) {
    for (std::uint64_t id = 1; id <= 6; ++id) {
        history_record record = message("room/kitchen", id);
        // Ids 2 and 5 are bob's own.
        record.sender = id == 2 || id == 5 ? "bob" : "alice";
        this->store().append_history(std::move(record));
    }
    for (std::uint64_t id = 1; id <= 3; ++id) {
        this->store().append_history(message("dm/alice/bob", id));
    }
    this->store().set_read_position({"bob", "room/kitchen", 1});
    this->store().set_read_position({"bob", "dm/alice/bob", 3});
    // Counted up to the head given: id 6 was stamped after the heads were read.
    EXPECT_EQ(
        this->read_state("bob", {{"dm/alice/bob", 3}, {"room/attic", 0}, {"room/kitchen", 5}}, 999),
        (std::vector<read_state_record>{
            {"dm/alice/bob", 3, 3, 0}, {"room/attic", 0, 0, 0}, {"room/kitchen", 5, 1, 2}}));
    // Without a position every message of others counts, up to the cap.
    EXPECT_EQ(this->read_state("carol", {{"room/kitchen", 6}}, 999)[0].unread, 6u);
    EXPECT_EQ(this->read_state("carol", {{"room/kitchen", 6}}, 4)[0].unread, 4u);
}

TYPED_TEST(ChatStore, ReadStateCountsNothingAtOrBelowWhatTheUserMayNotRead) {
    for (std::uint64_t id = 1; id <= 6; ++id) {
        this->store().append_history(message("room/kitchen", id));
    }
    // Joined after id 4, never read: 5 and 6 are unread, and the position reads as 4.
    conversation_head head{"room/kitchen", 6};
    head.hidden_through_id = 4;
    EXPECT_EQ(this->read_state("carol", {head}, 999),
              (std::vector<read_state_record>{{"room/kitchen", 6, 4, 2}}));
    // A position past the join point wins.
    this->store().set_read_position({"carol", "room/kitchen", 5});
    EXPECT_EQ(this->read_state("carol", {head}, 999)[0].unread, 1u);
    // Joined after a head the counters had not reached: never past the head.
    head.hidden_through_id = 9;
    EXPECT_EQ(this->read_state("dave", {head}, 999),
              (std::vector<read_state_record>{{"room/kitchen", 6, 6, 0}}));
}

/// An event of `sender` on message `of` of `conversation`, recorded as row `id`.
history_record event(std::string conversation, std::uint64_t id, history_kind kind,
                     std::uint64_t of, std::string sender, std::string change = "") {
    history_record record = message(std::move(conversation), id, 100 + id);
    record.sender = std::move(sender);
    record.kind = kind;
    record.of_id = of;
    record.change = std::move(change);
    record.payload = bytes_of("{\"type\":\"event\"}");
    return record;
}

TYPED_TEST(ChatStore, HistoryReturnsMessagesWithTheirEventsApplied) {
    history_record answer = message("room/kitchen", 2);
    answer.reply_to = 1;
    this->store().append_history(message("room/kitchen", 1));
    this->store().append_history(answer);
    this->store().append_history(message("room/kitchen", 3));
    this->store().append_history(event("room/kitchen", 4, history_kind::edit, 1, "alice", "fixed"));
    this->store().append_history(
        event("room/kitchen", 5, history_kind::reaction_added, 2, "bob", "\xF0\x9F\x91\x8D"));
    this->store().append_history(
        event("room/kitchen", 6, history_kind::reaction_added, 2, "alice", "\xF0\x9F\x91\x8D"));
    this->store().append_history(
        event("room/kitchen", 7, history_kind::reaction_added, 2, "bob", "x"));
    this->store().append_history(
        event("room/kitchen", 8, history_kind::reaction_removed, 2, "bob", "x"));
    this->store().append_history(event("room/kitchen", 9, history_kind::edit, 3, "alice", "gone"));
    this->store().append_history(event("room/kitchen", 10, history_kind::deletion, 3, "alice"));
    // An edit of a deleted message changes nothing.
    this->store().append_history(event("room/kitchen", 11, history_kind::edit, 3, "alice", "back"));
    this->store().append_history(message("room/kitchen", 12));
    this->reopen();

    const std::vector<history_record> page = this->page("room/kitchen", 0, 3);
    ASSERT_EQ(ids_of(page), (std::vector<std::uint64_t>{2, 3, 12}));
    EXPECT_EQ(page[0].reply_to, 1U);
    EXPECT_EQ(page[0].reactions,
              (std::vector<reaction_record>{{"\xF0\x9F\x91\x8D", {"alice", "bob"}}}));
    EXPECT_TRUE(page[1].is_deleted);
    EXPECT_TRUE(page[1].payload.empty());
    EXPECT_EQ(page[1].edited_unix_ms, 109U);
    const std::vector<history_record> first = this->page("room/kitchen", 2, 10);
    ASSERT_EQ(ids_of(first), (std::vector<std::uint64_t>{1}));
    EXPECT_EQ(first[0].payload, bytes_of("fixed"));
    EXPECT_EQ(first[0].edited_unix_ms, 104U);

    // The event rows stay, for catch-up; a deleted message's edits lose their payload too.
    std::promise<std::optional<history_record>> found;
    this->store().find_history("room/kitchen", 9,
                               [&](std::optional<history_record> row, const store_status&) {
                                   found.set_value(std::move(row));
                               });
    const std::optional<history_record> edit = found.get_future().get();
    ASSERT_TRUE(edit);
    EXPECT_EQ(edit->kind, history_kind::edit);
    EXPECT_EQ(edit->of_id, 3U);
    EXPECT_TRUE(edit->payload.empty());
    EXPECT_EQ(ids_of(this->after("room/kitchen", 0, 0, 100)).size(), 12U);
    // Unread counts skip events and deleted messages.
    EXPECT_EQ(this->read_state("carol", {{"room/kitchen", 12}}, 999)[0].unread, 3U);
}

TYPED_TEST(ChatStore, FindsNoRowForAnUnknownId) {
    this->store().append_history(message("room/kitchen", 1));
    std::promise<bool> found;
    this->store().find_history("room/kitchen", 2,
                               [&](std::optional<history_record> row, const store_status& status) {
                                   EXPECT_TRUE(status.is_ok());
                                   found.set_value(row.has_value());
                               });
    EXPECT_FALSE(found.get_future().get());
}

TYPED_TEST(ChatStore, ReadsHistoryAfterAnIdFromABaselineOldestFirst) {
    for (std::uint64_t id = 1; id <= 10; ++id) {
        this->store().append_history(message("room/kitchen", id, 1000 + id));
    }
    this->store().append_history(message("dm/alice/bob", 1, 1005));
    // No flush: a read sees every append submitted before it.
    EXPECT_EQ(ids_of(this->after("room/kitchen", 3, 0, 4)),
              (std::vector<std::uint64_t>{4, 5, 6, 7}));
    EXPECT_EQ(ids_of(this->after("room/kitchen", 8, 0, 10)), (std::vector<std::uint64_t>{9, 10}));
    EXPECT_EQ(ids_of(this->after("room/kitchen", 0, 1008, 10)),
              (std::vector<std::uint64_t>{8, 9, 10}));
    EXPECT_TRUE(this->after("room/kitchen", 10, 0, 10).empty());
    EXPECT_TRUE(this->after("room/kitchen", 0, 0, 0).empty());
    EXPECT_TRUE(this->after("room/attic", 0, 0, 10).empty());
    const auto one = this->after("dm/alice/bob", 0, 0, 10);
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(one[0], message("dm/alice/bob", 1, 1005));
}

TYPED_TEST(ChatStore, SessionCursorsRiseSurviveReopenAndGoWithTheSession) {
    this->store().save_session_cursors({"alice/phone", 5000, {{"room/kitchen", 4}}});
    this->store().save_session_cursors(
        {"alice/phone", 0, {{"room/kitchen", 2}, {"dm/alice/bob", 7}}});
    this->store().save_session_cursors({"bob", 6000, {}});
    this->store().save_session_cursors({"carol", 7000, {{"room/attic", 1}}});
    this->store().remove_session_cursors("carol");
    this->reopen();
    this->store().flush();
    EXPECT_EQ(
        this->store().load_session_cursors(),
        (std::vector<session_cursors_record>{
            {"alice/phone", 5000, {{"dm/alice/bob", 7}, {"room/kitchen", 4}}}, {"bob", 6000, {}}}));
    this->store().save_session_cursors({"alice/phone", 9000, {{"room/kitchen", 6}}});
    this->store().flush();
    EXPECT_EQ(
        this->store().load_session_cursors().front(),
        (session_cursors_record{"alice/phone", 9000, {{"dm/alice/bob", 7}, {"room/kitchen", 6}}}));
}

TYPED_TEST(ChatStore, EveryCompletionFiresOnceWithOk) {
    completion_recorder recorder;
    for (std::uint64_t id = 1; id <= 50; ++id) {
        this->store().append_history(message("room/kitchen", id), recorder.record());
        this->store().set_read_position({"alice", "room/kitchen", id}, recorder.record());
    }
    this->store().flush();
    EXPECT_EQ(recorder.count(), 100u);
    EXPECT_EQ(recorder.failures(), 0u);
}

// Only the SQLite store shares its file with other processes.

store_options sqlite_options(const temporary_database& file) {
    store_options options;
    options.path = file.path();
    options.commit_interval_ms = 1;
    return options;
}

TYPED_TEST(ChatStore, RoomRulesRolesBansAndInvitationsSurviveAReopen) {
    this->add_user("alice");
    this->add_user("bob");
    this->add_user("carol");
    room_record lobby = room("lobby", "alice");
    lobby.visibility = room_visibility::invited;
    lobby.history = history_visibility::joined;
    lobby.display_name = "The Lobby";
    using action = directory_change::action;
    EXPECT_EQ(
        this->apply(
                {directory_change::adding_room(lobby),
                 directory_change::adding_member({"lobby", "alice", room_role::owner, false, 0}),
                 directory_change::adding_member({"lobby", "bob", room_role::member, false, 7})})
            .result,
        directory_result::done);
    lobby.topic = "soup";
    EXPECT_EQ(
        this->apply({directory_change::of_room(action::update_room, lobby),
                     directory_change::of_member(action::update_member,
                                                 {"lobby", "bob", room_role::admin, true, 0}),
                     directory_change::of_ban(action::add_room_ban, {"lobby", "carol", "alice", 5}),
                     directory_change::of_invitation(action::add_invitation,
                                                     {"lobby", "carol", "bob", 6}),
                     directory_change::auditing({0, 9, "lobby", "alice", "ban", "carol", ""})})
            .result,
        directory_result::done);
    this->reopen();
    const auto snapshot = this->store().load_directory();
    ASSERT_EQ(snapshot.rooms.size(), 1U);
    EXPECT_EQ(snapshot.rooms[0], lobby);
    EXPECT_EQ(snapshot.memberships,
              (std::vector<membership_record>{{"lobby", "alice", room_role::owner, false, 0},
                                              {"lobby", "bob", room_role::admin, true, 7}}));
    EXPECT_EQ(snapshot.room_bans, (std::vector<room_ban_record>{{"lobby", "carol", "alice", 5}}));
    EXPECT_EQ(snapshot.invitations, (std::vector<invitation_record>{{"lobby", "carol", "bob", 6}}));
    const auto audit = this->store().audit_log("lobby", 10);
    ASSERT_EQ(audit.size(), 1U);
    EXPECT_EQ(audit[0].action, "ban");
    EXPECT_EQ(audit[0].target, "carol");
    EXPECT_TRUE(this->store().audit_log("other", 10).empty());
    EXPECT_EQ(this->store().audit_log("", 10).size(), 1U);
}

TYPED_TEST(ChatStore, ModerationChangesReportWhatIsMissing) {
    this->add_user("alice");
    this->add_room("lobby");
    using action = directory_change::action;
    EXPECT_EQ(this->apply({directory_change::of_member(action::remove_member, {"lobby", "alice"})})
                  .result,
              directory_result::not_found);
    EXPECT_EQ(this->apply({directory_change::of_member(action::update_member, {"lobby", "alice"})})
                  .result,
              directory_result::not_found);
    EXPECT_EQ(
        this->apply({directory_change::of_ban(action::remove_room_ban, {"lobby", "alice", "", 0})})
            .result,
        directory_result::not_found);
    EXPECT_EQ(this->apply({directory_change::of_invitation(action::add_invitation,
                                                           {"lobby", "nobody", "", 0})})
                  .result,
              directory_result::not_found);
    EXPECT_EQ(this->apply({directory_change::of_room(action::update_room, room("nowhere"))}).result,
              directory_result::not_found);
    // A refused batch leaves its audit entry out too.
    const auto refused =
        this->apply({directory_change::auditing({0, 1, "lobby", "", "kick", "alice", ""}),
                     directory_change::of_member(action::remove_member, {"lobby", "alice"})});
    EXPECT_EQ(refused.refused_index, 1U);
    EXPECT_TRUE(this->store().audit_log("", 10).empty());
}

TYPED_TEST(ChatStore, DeletingARoomOrAUserTakesItsBansAndInvitations) {
    this->add_user("alice");
    this->add_user("bob");
    this->add_room("lobby");
    this->add_room("attic");
    using action = directory_change::action;
    EXPECT_EQ(this->apply({directory_change::of_ban(action::add_room_ban, {"lobby", "bob", "", 1}),
                           directory_change::of_invitation(action::add_invitation,
                                                           {"lobby", "alice", "", 1}),
                           directory_change::of_invitation(action::add_invitation,
                                                           {"attic", "alice", "", 1})})
                  .result,
              directory_result::done);
    EXPECT_EQ(this->apply({directory_change::of_room(action::remove_room, room("lobby"))}).result,
              directory_result::done);
    auto snapshot = this->store().load_directory();
    EXPECT_TRUE(snapshot.room_bans.empty());
    EXPECT_EQ(snapshot.invitations, (std::vector<invitation_record>{{"attic", "alice", "", 1}}));
    change([&](directory_completion done) { this->store().remove_user("alice", std::move(done)); });
    snapshot = this->store().load_directory();
    EXPECT_TRUE(snapshot.invitations.empty());
}

TEST(SqliteChatStore, SeesDirectoryChangesOfASecondStoreOnTheSameFile) {
    temporary_database file;
    const auto gateway = open_chat_store(sqlite_options(file));
    const auto administrator = open_chat_store(sqlite_options(file));
    const std::uint64_t before = gateway->directory_version();
    EXPECT_EQ(change([&](directory_completion done) {
                  administrator->add_user(user("alice"), std::move(done));
              }).result,
              directory_result::done);
    EXPECT_NE(gateway->directory_version(), before);
    EXPECT_EQ(gateway->load_directory().users, (std::vector<user_record>{user("alice")}));
    // The other way round, and a conflict detected across connections.
    EXPECT_EQ(change([&](directory_completion done) {
                  gateway->add_user(user("alice"), std::move(done));
              }).result,
              directory_result::already_exists);
    const std::uint64_t seen = administrator->directory_version();
    change([&](directory_completion done) { gateway->add_room(room("kitchen"), std::move(done)); });
    EXPECT_NE(administrator->directory_version(), seen);
}

TEST(SqliteChatStore, GroupsHistoryWrites) {
    temporary_database file;
    store_options options = sqlite_options(file);
    options.commit_interval_ms = 50;
    const auto store = open_chat_store(options);
    completion_recorder recorder;
    for (std::uint64_t id = 1; id <= 200; ++id) {
        store->append_history(message("room/kitchen", id), recorder.record());
    }
    store->flush();
    EXPECT_EQ(recorder.count(), 200u);
    sqlite::database reader(file.path(), SQLITE_OPEN_READONLY);
    EXPECT_EQ(reader.query_integer("SELECT count(*) FROM chat_history"), 200);
    // Appends write no head (one page less per group): a reopen takes it from history.
    EXPECT_EQ(reader.query_integer("SELECT count(*) FROM chat_conversations"), 0);
    EXPECT_EQ(open_chat_store(options)->conversation_heads(),
              (std::vector<conversation_head>{{"room/kitchen", 200}}));
}

TEST(SqliteChatStore, HeadsAreTheLargerOfTheStoredHeadAndHistory) {
    temporary_database file;
    store_options options = sqlite_options(file);
    {
        const auto store = open_chat_store(options);
        store->append_history(message("room/kitchen", 1, 10));
        store->append_history(message("room/attic", 4, 10));
        store->prune_history(1'000, 0);
        store->flush();
        // After the prune (heads written, rows gone) a conversation goes on in history.
        store->append_history(message("room/kitchen", 2, 2'000));
        store->append_history(message("dm/alice/bob", 3, 2'000));
        store->flush();
    }
    EXPECT_EQ(open_chat_store(options)->conversation_heads(),
              (std::vector<conversation_head>{
                  {"dm/alice/bob", 3}, {"room/attic", 4}, {"room/kitchen", 2}}));
}

TEST(SqliteChatStore, ReportsAFailedDirectoryWrite) {
    temporary_database file;
    const auto store = open_chat_store(sqlite_options(file));
    {
        // Another connection holds the write lock longer than the busy timeout.
        store_options options = sqlite_options(file);
        sqlite::database blocker(file.path(), SQLITE_OPEN_READWRITE);
        blocker.execute("BEGIN IMMEDIATE");
        store_options quick = options;
        quick.busy_timeout_ms = 10;
        const auto impatient = open_chat_store(quick);
        blocker.execute("COMMIT");
        blocker.execute("BEGIN IMMEDIATE");
        const auto outcome = change([&](directory_completion done) {
            impatient->add_user(user("alice"), std::move(done));
        });
        EXPECT_EQ(outcome.result, directory_result::failed);
        EXPECT_FALSE(outcome.status.is_ok());
        EXPECT_NE(outcome.status.detail.find("locked"), std::string::npos) << outcome.status.detail;
        blocker.execute("ROLLBACK");
    }
    EXPECT_TRUE(store->load_directory().users.empty());
}

TEST(SqliteChatStore, RetriesAFailedGroupUntilItIsWritten) {
    temporary_database file;
    store_options options = sqlite_options(file);
    options.busy_timeout_ms = 10;
    options.retry_interval_ms = 20;
    std::vector<std::string> logged;
    std::mutex log_mutex;
    options.log_error = [&](std::string_view line) {
        std::lock_guard lock(log_mutex);
        logged.emplace_back(line);
    };
    const auto store = open_chat_store(options);
    sqlite::database blocker(file.path(), SQLITE_OPEN_READWRITE);
    blocker.execute("BEGIN IMMEDIATE");
    completion_recorder recorder;
    store->append_history(message("room/kitchen", 1), recorder.record());
    store->flush();
    ASSERT_EQ(recorder.count(), 1u);
    EXPECT_EQ(recorder.failures(), 1u);
    blocker.execute("ROLLBACK");
    // The failed append stays at the head of the queue and is written with the next group.
    store->append_history(message("room/kitchen", 2), recorder.record());
    store->flush();
    EXPECT_EQ(recorder.count(), 2u);
    EXPECT_EQ(recorder.failures(), 1u);
    std::promise<std::vector<history_record>> page;
    store->history_page("room/kitchen", 0, 10,
                        [&](std::vector<history_record> records, const store_status&) {
                            page.set_value(std::move(records));
                        });
    EXPECT_EQ(ids_of(page.get_future().get()), (std::vector<std::uint64_t>{1, 2}));
    std::lock_guard lock(log_mutex);
    ASSERT_FALSE(logged.empty());
    EXPECT_NE(logged[0].find("retrying"), std::string::npos) << logged[0];
}

TEST(SqliteChatStore, RefusesAFileThatIsNotADatabase) {
    temporary_database file;
    {
        std::FILE* out = std::fopen(file.path().c_str(), "w");
        ASSERT_NE(out, nullptr);
        std::fputs("this is not an SQLite database, just some text long enough to tell", out);
        std::fclose(out);
    }
    EXPECT_THROW(open_chat_store(sqlite_options(file)), store_open_error);
}

TEST(SqliteChatStore, MigratesAVersionTwoDatabaseKeepingItsRows) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 2);
        connection.execute(
            "INSERT INTO sessions (client_id, protocol_level, session_expiry_interval_s, "
            "expires_at_unix_ms) VALUES ('alice', 5, 600, 0);"
            "INSERT INTO retained VALUES ('r', 0, x'31', 0, x'', 0, 0);");
    }
    {
        const auto store = open_chat_store(sqlite_options(file));
        EXPECT_EQ(change([&](directory_completion done) {
                      store->add_user(user("alice"), std::move(done));
                  }).result,
                  directory_result::done);
        store->append_history(message("room/kitchen", 1));
        store->flush();
    }
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
    EXPECT_EQ(sqlite::schema_version(connection), sqlite::current_schema_version);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM sessions"), 1);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM retained"), 1);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_users"), 1);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_history"), 1);
}

TEST(SqliteChatStore, MigrationToVersionEightKeepsTheDirectoryAndCanRunTwice) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 7);
        connection.execute("INSERT INTO chat_users VALUES ('alice', 'hash', 1)");
    }
    {
        const auto store = open_chat_store(sqlite_options(file));
        EXPECT_EQ(store->load_directory().users.size(), 1U);
        EXPECT_EQ(change([&](directory_completion done) {
                      store->add_ban({ban_kind::user, "alice", "", 1, 0}, std::move(done));
                  }).result,
                  directory_result::done);
    }
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
    EXPECT_EQ(sqlite::schema_version(connection), sqlite::current_schema_version);
    connection.execute("PRAGMA user_version = 7");
    sqlite::migrate_schema(connection, 8);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM bans"), 1);
}

TEST(SqliteChatStore, MigratesAVersionEightHistoryToEventsAndReplies) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 8);
        connection.execute("INSERT INTO chat_history VALUES ('room/kitchen', 1, 'alice', "
                           "'chat/room/kitchen/alice', 5, x'6869');"
                           "INSERT INTO chat_conversations VALUES ('room/kitchen', 1);");
    }
    const auto store = open_chat_store(sqlite_options(file));
    history_record edit = message("room/kitchen", 2, 6);
    edit.kind = history_kind::edit;
    edit.of_id = 1;
    edit.change = "hello";
    store->append_history(edit);
    std::promise<std::vector<history_record>> page;
    store->history_page("room/kitchen", 0, 10,
                        [&](std::vector<history_record> rows, const store_status& status) {
                            EXPECT_TRUE(status.is_ok()) << status.detail;
                            page.set_value(std::move(rows));
                        });
    const std::vector<history_record> rows = page.get_future().get();
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_EQ(rows[0].payload, bytes_of("hello"));
    EXPECT_EQ(rows[0].edited_unix_ms, 6U);
    EXPECT_EQ(rows[0].reply_to, 0U);
    EXPECT_EQ(store->conversation_heads(), (std::vector<conversation_head>{{"room/kitchen", 2}}));
}

TEST(SqliteChatStore, MigrationToVersionNineMakesRoomsPublicWithTheirCreatorAsOwner) {
    temporary_database file;
    {
        // A database as the previous release wrote it.
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 8);
        connection.execute("INSERT INTO chat_users VALUES ('alice', 'hash', 1), "
                           "('bob', 'hash', 1); "
                           "INSERT INTO chat_rooms VALUES ('lobby', 'alice', 2), ('attic', '', 3); "
                           "INSERT INTO chat_members VALUES ('lobby', 'alice'), ('lobby', 'bob'), "
                           "('attic', 'bob'); "
                           "UPDATE chat_directory_version SET version = 4");
    }
    const auto store = open_chat_store(sqlite_options(file));
    const auto snapshot = store->load_directory();
    EXPECT_EQ(snapshot.version, 4U);
    ASSERT_EQ(snapshot.rooms.size(), 2U);
    for (const room_record& held : snapshot.rooms) {
        EXPECT_EQ(held.visibility, room_visibility::open);
        EXPECT_EQ(held.history, history_visibility::shared);
        EXPECT_EQ(held.display_name, "");
    }
    EXPECT_EQ(snapshot.memberships,
              (std::vector<membership_record>{{"attic", "bob", room_role::member, false, 0},
                                              {"lobby", "alice", room_role::owner, false, 0},
                                              {"lobby", "bob", room_role::member, false, 0}}));
    EXPECT_TRUE(snapshot.room_bans.empty());
    EXPECT_TRUE(snapshot.invitations.empty());
    EXPECT_TRUE(store->audit_log("", 10).empty());
}

TEST(SqliteChatStore, MigrationToVersionThreeCanRunTwice) {
    temporary_database file;
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::migrate_schema(connection, 3);
    connection.execute("UPDATE chat_directory_version SET version = 7; PRAGMA user_version = 2");
    sqlite::migrate_schema(connection, 3);
    EXPECT_EQ(sqlite::schema_version(connection), 3);
    EXPECT_EQ(connection.query_integer("SELECT version FROM chat_directory_version"), 7);
}

// ---- Files (docs/CHAT.md "Files") ----------------------------------------------------------

file_record uploaded(std::string id, std::string owner, std::uint64_t created_unix_ms) {
    return {std::move(id),        std::move(owner), 5, "text/plain", "note.txt",
            std::string(64, 'a'), created_unix_ms};
}

template <typename Store> std::vector<file_reference> references_of(Store& store, std::string id) {
    std::promise<std::vector<file_reference>> result;
    store.file_references(std::move(id),
                          [&](std::vector<file_reference> found, const store_status& status) {
                              EXPECT_TRUE(status.is_ok()) << status.detail;
                              result.set_value(std::move(found));
                          });
    return result.get_future().get();
}

template <typename Store>
std::vector<std::string> unreferenced_of(Store& store, std::uint64_t before_unix_ms) {
    std::promise<std::vector<std::string>> result;
    store.unreferenced_files(before_unix_ms, 10,
                             [&](std::vector<std::string> found, const store_status& status) {
                                 EXPECT_TRUE(status.is_ok()) << status.detail;
                                 result.set_value(std::move(found));
                             });
    return result.get_future().get();
}

TYPED_TEST(ChatStore, FilesAndTheirReferencesSurviveAReopenAndLeaveWithTheirMessages) {
    this->store().add_file(uploaded("f1", "alice", 10));
    this->store().add_file(uploaded("f2", "alice", 20));
    this->store().add_file(uploaded("f3", "bob", 30));
    for (std::uint64_t id = 1; id <= 3; ++id) {
        this->store().append_history(message("room/kitchen", id, id * 100));
    }
    this->store().add_file_references("room/kitchen", 1, {"f1"});
    this->store().add_file_references("room/kitchen", 2, {"f1", "f2"});
    this->reopen();

    EXPECT_EQ(this->store().load_files(),
              (std::vector<file_record>{uploaded("f1", "alice", 10), uploaded("f2", "alice", 20),
                                        uploaded("f3", "bob", 30)}));
    EXPECT_EQ(references_of(this->store(), "f1"),
              (std::vector<file_reference>{{"room/kitchen", 1}, {"room/kitchen", 2}}));
    // Never referenced, and old enough: f3 only (f1 and f2 are referenced).
    EXPECT_EQ(unreferenced_of(this->store(), 100), (std::vector<std::string>{"f3"}));
    EXPECT_TRUE(unreferenced_of(this->store(), 30).empty());

    // Deleting message 2 (op delete) takes its references; pruning message 1 takes the last.
    this->store().append_history(event("room/kitchen", 4, history_kind::deletion, 2, "alice"));
    this->store().flush();
    EXPECT_EQ(references_of(this->store(), "f1"),
              (std::vector<file_reference>{{"room/kitchen", 1}}));
    EXPECT_EQ(unreferenced_of(this->store(), 100), (std::vector<std::string>{"f2", "f3"}));
    this->store().prune_history(150, 0);
    this->store().flush();
    EXPECT_TRUE(references_of(this->store(), "f1").empty());
    EXPECT_EQ(unreferenced_of(this->store(), 100), (std::vector<std::string>{"f1", "f2", "f3"}));

    this->store().remove_file("f1");
    this->reopen();
    EXPECT_EQ(this->store().load_files().size(), 2U);
    EXPECT_EQ(unreferenced_of(this->store(), 100), (std::vector<std::string>{"f2", "f3"}));
}

TEST(SqliteChatStore, MigratesAVersionElevenDatabaseToFilesKeepingHistory) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 11);
        connection.execute("INSERT INTO chat_users VALUES ('alice', 'hash', 1)");
    }
    {
        const auto store = open_chat_store(sqlite_options(file));
        EXPECT_EQ(store->load_directory().users.size(), 1U);
        EXPECT_TRUE(store->load_files().empty());
        store->append_history(message("room/kitchen", 1));
        store->add_file(uploaded("f1", "alice", 1));
        store->add_file_references("room/kitchen", 1, {"f1"});
        store->flush();
        EXPECT_EQ(references_of(*store, "f1"), (std::vector<file_reference>{{"room/kitchen", 1}}));
    }
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
    EXPECT_EQ(sqlite::schema_version(connection), sqlite::current_schema_version);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_history"), 1);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_files"), 1);
    // Running the migration again is harmless.
    connection.execute("PRAGMA user_version = 11");
    sqlite::migrate_schema(connection);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_file_refs"), 1);
}

TEST(SqliteChatStore, MigratesAVersionThirteenDatabaseToAdminFlagsKeepingUsers) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 13);
        connection.execute("INSERT INTO chat_users VALUES ('alice', 'hash', 1)");
        connection.execute("INSERT INTO chat_users VALUES ('bob', 'hash', 2)");
    }
    {
        const auto store = open_chat_store(sqlite_options(file));
        const auto users = store->load_directory().users;
        ASSERT_EQ(users.size(), 2U);
        EXPECT_FALSE(users[0].is_admin);
        EXPECT_FALSE(users[1].is_admin);
        std::promise<directory_result> set;
        store->apply_directory_changes({directory_change::setting_admin("bob", true)},
                                       [&](directory_result result, std::size_t,
                                           const store_status&) { set.set_value(result); });
        EXPECT_EQ(set.get_future().get(), directory_result::done);
    }
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
    EXPECT_EQ(sqlite::schema_version(connection), sqlite::current_schema_version);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_admins WHERE user = 'bob'"), 1);
    // Running the migration again is harmless and keeps the flags.
    connection.execute("PRAGMA user_version = 13");
    sqlite::migrate_schema(connection);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_admins"), 1);
}

} // namespace
} // namespace perch::store
