// The in-memory chat directory: queries and the diff that live sessions follow.
#include <gtest/gtest.h>

#include "gateway/chat/chat_directory.hpp"

namespace perch::gateway {
namespace {

store::chat_directory_snapshot base_snapshot() {
    store::chat_directory_snapshot snapshot;
    snapshot.users = {{"alice", "h1", 1}, {"bob", "h2", 1}, {"carol", "h3", 1}};
    snapshot.rooms = {{"lobby", "", 1}, {"den", "", 1}};
    snapshot.memberships = {{"lobby", "alice"}, {"lobby", "bob"}, {"den", "carol"}};
    snapshot.version = 1;
    return snapshot;
}

TEST(ChatDirectoryTest, AnswersMembershipQueries) {
    chat_directory directory;
    directory.replace(base_snapshot());
    EXPECT_EQ(directory.version(), 1U);
    EXPECT_EQ(directory.password_hash("bob"), "h2");
    EXPECT_FALSE(directory.password_hash("mallory"));
    EXPECT_TRUE(directory.is_member("lobby", "alice"));
    EXPECT_FALSE(directory.is_member("den", "alice"));
    EXPECT_TRUE(directory.shares_room("alice", "bob"));
    EXPECT_FALSE(directory.shares_room("alice", "carol"));
    EXPECT_TRUE(directory.shares_room("carol", "carol"));
    EXPECT_EQ(directory.rooms_of("alice"), std::vector<std::string>{"lobby"});
    EXPECT_EQ(directory.members_of("lobby"), (std::vector<std::string>{"alice", "bob"}));
    EXPECT_TRUE(directory.members_of("nowhere").empty());
}

TEST(ChatDirectoryTest, ReportsBanAndAclRuleChanges) {
    chat_directory directory;
    directory.replace(base_snapshot());
    EXPECT_TRUE(directory.bans()->is_empty());
    store::chat_directory_snapshot snapshot = base_snapshot();
    snapshot.bans = {{store::ban_kind::address, "10.0.0.0/8", "", 1, 0}};
    directory_changes changes = directory.replace(snapshot);
    EXPECT_TRUE(changes.are_bans_changed);
    EXPECT_FALSE(changes.are_acl_rules_changed);
    EXPECT_FALSE(changes.is_empty());
    EXPECT_NE(directory.bans()->find({"", "c", "10.2.3.4"}, 2), nullptr);
    snapshot.acl_rules = {{store::acl_scope::anonymous, "", "read", "public/#", 1}};
    changes = directory.replace(snapshot);
    EXPECT_FALSE(changes.are_bans_changed);
    EXPECT_TRUE(changes.are_acl_rules_changed);
    EXPECT_EQ(directory.acl_rules(), snapshot.acl_rules);
    EXPECT_TRUE(directory.replace(snapshot).is_empty());
}

TEST(ChatDirectoryTest, PeersAreTheUserAndEveryoneSharingARoom) {
    chat_directory directory;
    store::chat_directory_snapshot snapshot = base_snapshot();
    snapshot.users.push_back({"dave", "h4", 1});
    snapshot.memberships.push_back({"den", "alice"});
    directory.replace(snapshot);
    EXPECT_EQ(directory.peers_of("alice"), (std::vector<std::string>{"alice", "bob", "carol"}));
    EXPECT_EQ(directory.peers_of("bob"), (std::vector<std::string>{"alice", "bob"}));
    EXPECT_EQ(directory.peers_of("dave"), std::vector<std::string>{"dave"});
    EXPECT_TRUE(directory.peers_of("mallory").empty());
}

TEST(ChatDirectoryTest, APlacementRoomIsTheUsersSmallestRoom) {
    chat_directory directory;
    store::chat_directory_snapshot snapshot = base_snapshot();
    snapshot.users.push_back({"dave", "h4", 1});
    snapshot.rooms.push_back({"attic", "", 1});
    // alice: lobby (2 members) and den (2 members): the first by name among equals.
    snapshot.memberships.push_back({"den", "alice"});
    // carol: den and attic (1 member): the smaller.
    snapshot.memberships.push_back({"attic", "carol"});
    directory.replace(snapshot);
    EXPECT_EQ(directory.placement_room("alice"), "den");
    EXPECT_EQ(directory.placement_room("bob"), "lobby");
    EXPECT_EQ(directory.placement_room("carol"), "attic");
    EXPECT_EQ(directory.placement_room("dave"), std::nullopt);
    EXPECT_EQ(directory.placement_room("nobody"), std::nullopt);
}

TEST(ChatDirectoryTest, IgnoresMembershipsOfUnknownUsersOrRooms) {
    store::chat_directory_snapshot snapshot = base_snapshot();
    snapshot.memberships.push_back({"lobby", "ghost"});
    snapshot.memberships.push_back({"attic", "alice"});
    const directory_contents contents = make_directory_contents(snapshot);
    EXPECT_FALSE(contents.rooms.at("lobby").contains("ghost"));
    EXPECT_FALSE(contents.rooms.contains("attic"));
}

TEST(ChatDirectoryTest, DiffReportsJoinsLeavesDeletionsAndPasswordChanges) {
    chat_directory directory;
    directory.replace(base_snapshot());
    store::chat_directory_snapshot next = base_snapshot();
    next.version = 2;
    // carol deleted (with her den membership), bob's password changed, alice joins den, bob
    // leaves lobby, and the room den gets dave... who does not exist (ignored).
    next.users = {{"alice", "h1", 1}, {"bob", "h2-new", 1}};
    next.memberships = {{"lobby", "alice"}, {"den", "alice"}, {"den", "dave"}};
    const directory_changes changes = directory.replace(next);
    EXPECT_EQ(changes.joined, (std::vector<store::membership_record>{{"den", "alice"}}));
    EXPECT_EQ(changes.left,
              (std::vector<store::membership_record>{{"den", "carol"}, {"lobby", "bob"}}));
    EXPECT_EQ(changes.removed_users, std::vector<std::string>{"carol"});
    EXPECT_EQ(changes.changed_passwords, std::vector<std::string>{"bob"});
    EXPECT_FALSE(changes.is_empty());
    EXPECT_TRUE(directory.replace(next).is_empty());
}

TEST(ChatDirectoryTest, DiffReportsNewUsers) {
    chat_directory directory;
    directory.replace(base_snapshot());
    store::chat_directory_snapshot next = base_snapshot();
    next.version = 2;
    next.users.push_back({"dave", "h4", 2});
    const directory_changes changes = directory.replace(next);
    EXPECT_EQ(changes.added_users, std::vector<std::string>{"dave"});
    EXPECT_TRUE(changes.removed_users.empty());
    EXPECT_FALSE(changes.is_empty());
}

TEST(ChatDirectoryTest, DeletedRoomMeansEveryMemberLeft) {
    chat_directory directory;
    directory.replace(base_snapshot());
    store::chat_directory_snapshot next = base_snapshot();
    next.rooms = {{"den", "", 1}};
    next.memberships = {{"den", "carol"}};
    const directory_changes changes = directory.replace(next);
    EXPECT_EQ(changes.left,
              (std::vector<store::membership_record>{{"lobby", "alice"}, {"lobby", "bob"}}));
    EXPECT_TRUE(changes.joined.empty());
}

} // namespace
} // namespace perch::gateway
