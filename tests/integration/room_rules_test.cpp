// Room rules and moderation end to end (docs/CHAT.md "Room rules"), with Paho clients at 5.0 and
// 3.1.1: private rooms and invitations, kick, ban, mute, roles, history visible from the join,
// the room list and the public-room search.
#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

class RoomRulesTest : public chat_fixture {
public:
    /// Sends a request that must succeed and returns its reply.
    json expect_ok(chat_client& client, const std::string& user, const json& request) {
        json reply = control(client, user, request);
        EXPECT_EQ(reply.value("ok", false), true) << request.dump() << " -> " << reply.dump();
        return reply;
    }

    /// Sends a request that must be refused with `error` and returns its reply.
    json expect_refused(chat_client& client, const std::string& user, const json& request,
                        const std::string& error) {
        json reply = control(client, user, request);
        EXPECT_EQ(reply.value("ok", true), false) << request.dump() << " -> " << reply.dump();
        EXPECT_EQ(reply.value("error", ""), error) << reply.dump();
        return reply;
    }

    /// The next room event on `topic`, parsed.
    json next_event(chat_client& client, const std::string& topic) {
        auto message = client.next_on(topic);
        if (!message) {
            ADD_FAILURE() << "no event on " << topic;
            return json::object();
        }
        return json::parse(message->payload);
    }
};

TEST_F(RoomRulesTest, APrivateRoomIsJoinedByInvitationOnly) {
    auto alice = connected("alice", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    expect_ok(*alice, "alice",
              {{"op", "create"}, {"room", "den"}, {"visibility", "private"}, {"name", "The Den"}});
    // Uninvited: refused, and not found by the search.
    const json refused =
        expect_refused(*carol, "carol", {{"op", "join"}, {"room", "den"}}, "not_invited");
    EXPECT_FALSE(refused.value("detail", "").empty());
    EXPECT_TRUE(
        expect_ok(*carol, "carol", {{"op", "public_rooms"}, {"query", "den"}})["rooms"].empty());
    // A member who is not an admin may not invite into a private room.
    expect_ok(*alice, "alice", {{"op", "invite"}, {"room", "den"}, {"user", "bob"}});
    const json invited = expect_ok(*carol, "carol", {{"op", "invitations"}});
    EXPECT_TRUE(invited["invitations"].empty());
    EXPECT_TRUE(expect_ok(*bob, "bob", {{"op", "invitations"}})["invitations"].size() == 1);
    EXPECT_EQ(expect_ok(*bob, "bob", {{"op", "join"}, {"room", "den"}})["room"], "den");
    expect_refused(*bob, "bob", {{"op", "invite"}, {"room", "den"}, {"user", "carol"}},
                   "not_allowed");

    // The owner invites: pending until carol joins; the invitation is announced in the room.
    const json pending =
        expect_ok(*alice, "alice", {{"op", "invite"}, {"room", "den"}, {"user", "carol"}});
    EXPECT_EQ(pending.value("pending", false), true);
    const json event = next_event(*bob, "chat/room/den/alice");
    EXPECT_EQ(event["type"], "event");
    EXPECT_EQ(event["event"], "invite");
    EXPECT_EQ(event["user"], "carol");
    const json listed = expect_ok(*carol, "carol", {{"op", "invitations"}});
    ASSERT_EQ(listed["invitations"].size(), 1U);
    EXPECT_EQ(listed["invitations"][0]["room"], "den");
    EXPECT_EQ(listed["invitations"][0]["by"], "alice");
    EXPECT_EQ(listed["invitations"][0]["name"], "The Den");
    expect_ok(*carol, "carol", {{"op", "join"}, {"room", "den"}});
    EXPECT_TRUE(expect_ok(*carol, "carol", {{"op", "invitations"}})["invitations"].empty());
    ASSERT_EQ(alice->publish("chat/room/den/alice", "welcome", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_TRUE(carol->next_on("chat/room/den/alice"));

    // The room list shows the room's rules and the user's role.
    const json rooms = expect_ok(*carol, "carol", {{"op", "rooms"}});
    bool is_listed = false;
    for (const json& room : rooms["details"]) {
        if (room["room"] == "den") {
            is_listed = true;
            EXPECT_EQ(room["visibility"], "private");
            EXPECT_EQ(room["role"], "member");
            EXPECT_EQ(room["name"], "The Den");
        }
    }
    EXPECT_TRUE(is_listed) << rooms.dump();
}

TEST_F(RoomRulesTest, AnInvitationCanBeDeclined) {
    auto alice = connected("alice", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "den"}, {"visibility", "private"}});
    expect_ok(*alice, "alice", {{"op", "invite"}, {"room", "den"}, {"user", "carol"}});
    expect_ok(*carol, "carol", {{"op", "decline"}, {"room", "den"}});
    EXPECT_TRUE(expect_ok(*carol, "carol", {{"op", "invitations"}})["invitations"].empty());
    expect_refused(*carol, "carol", {{"op", "join"}, {"room", "den"}}, "not_invited");
    expect_refused(*carol, "carol", {{"op", "decline"}, {"room", "den"}}, "no_invitation");
}

/// A kicked member, subscribed by the gateway and by a wildcard of their own, gets nothing more
/// from the room and is refused when posting.
void expect_kick_ends_membership(RoomRulesTest& test, chat_client& alice, chat_client& bob,
                                 bool is_v5) {
    bob.subscribe("chat/#", 1);
    test.expect_ok(alice, "alice", {{"op", "create"}, {"room", "hall"}});
    test.expect_ok(bob, "bob", {{"op", "join"}, {"room", "hall"}});
    ASSERT_EQ(alice.publish("chat/room/hall/alice", "hello", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_TRUE(bob.next_on("chat/room/hall/alice"));

    test.expect_ok(alice, "alice", {{"op", "kick"}, {"room", "hall"}, {"user", "bob"}});
    ASSERT_EQ(alice.publish("chat/room/hall/alice", "after the kick", 1),
              mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(bob.stays_silent_on("chat/room/hall/"));
    EXPECT_EQ(bob.publish("chat/room/hall/bob", "still here?", 1),
              is_v5 ? mqtt::ReasonCode::NOT_AUTHORIZED : mqtt::ReasonCode::SUCCESS);
    // At 3.1.1 it was acknowledged and dropped: the room never saw it.
    EXPECT_TRUE(alice.stays_silent_on("chat/room/hall/bob"));
    // Kicked is not banned: bob may come back to a public room.
    test.expect_ok(bob, "bob", {{"op", "join"}, {"room", "hall"}});
}

TEST_F(RoomRulesTest, AKickedMemberStillSubscribedGetsNothingAndIsRefusedAtFive) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    expect_kick_ends_membership(*this, *alice, *bob, true);
}

TEST_F(RoomRulesTest, AKickedMemberStillSubscribedGetsNothingAndIsDroppedAtThreeOneOne) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    expect_kick_ends_membership(*this, *alice, *bob, false);
}

TEST_F(RoomRulesTest, TheKickIsAnnouncedInTheRoomAndKeptInHistory) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}});
    expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
    expect_ok(*carol, "carol", {{"op", "join"}, {"room", "hall"}});
    expect_ok(*alice, "alice", {{"op", "kick"}, {"room", "hall"}, {"user", "bob"}});
    const json event = next_event(*carol, "chat/room/hall/alice");
    EXPECT_EQ(event["event"], "kick");
    EXPECT_EQ(event["by"], "alice");
    EXPECT_EQ(event["user"], "bob");
    const json history =
        expect_ok(*carol, "carol", {{"op", "history"}, {"conversation", "room/hall"}});
    ASSERT_FALSE(history["messages"].empty());
    EXPECT_EQ(json::parse(history["messages"].back()["payload"].get<std::string>())["event"],
              "kick");
}

TEST_F(RoomRulesTest, TheRemovedMemberIsToldOnTheirOwnControlTopicLiveAndAfterBeingAway) {
    auto alice = connected("alice", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}});
    {
        auto bob = connected("bob", mqtt_5);
        expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
        expect_ok(*alice, "alice", {{"op", "kick"}, {"room", "hall"}, {"user", "bob"}});
        const json notice = next_event(*bob, "chat/ctl/bob/resp/room_event");
        EXPECT_EQ(notice["type"], "event");
        EXPECT_EQ(notice["event"], "kick");
        EXPECT_EQ(notice["room"], "hall");
        EXPECT_EQ(notice["by"], "alice");
        EXPECT_EQ(notice["user"], "bob");
        expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
    }
    {
        // A persistent session away during the ban finds the notice when it comes back.
        auto bob = connected("bob/phone", mqtt_5, true);
        bob->disconnect();
    }
    expect_ok(*alice, "alice", {{"op", "ban"}, {"room", "hall"}, {"user", "bob"}});
    auto bob = connected("bob/phone", mqtt_5, true);
    const json notice = next_event(*bob, "chat/ctl/bob/resp/room_event");
    EXPECT_EQ(notice["event"], "ban");
    EXPECT_EQ(notice["room"], "hall");
    // carol, never a member, gets no notice when banned.
    auto carol = connected("carol", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "ban"}, {"room", "hall"}, {"user", "carol"}});
    EXPECT_TRUE(carol->stays_silent_on("chat/ctl/carol/resp/room_event"));
}

TEST_F(RoomRulesTest, EveryConnectedDeviceOfEachMemberIsToldWhenTheRoomIsDeleted) {
    auto alice = connected("alice", mqtt_5);
    auto bob_phone = connected("bob/phone", mqtt_5);
    auto bob_laptop = connected("bob/laptop", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}});
    expect_ok(*bob_phone, "bob", {{"op", "join"}, {"room", "hall"}});
    alice->publish("chat/ctl/alice/req", json({{"op", "delete_room"}, {"room", "hall"}}).dump(), 1);
    // The owner who deleted it was a member too: told as the change is applied, before the reply.
    EXPECT_EQ(next_event(*alice, "chat/ctl/alice/resp/room_event")["event"], "delete");
    EXPECT_TRUE(next_event(*alice, "chat/ctl/alice/resp").value("ok", false));
    for (chat_client* device : {bob_phone.get(), bob_laptop.get()}) {
        const json notice = next_event(*device, "chat/ctl/bob/resp/room_event");
        EXPECT_EQ(notice["type"], "event");
        EXPECT_EQ(notice["event"], "delete");
        EXPECT_EQ(notice["room"], "hall");
        EXPECT_EQ(notice["user"], "bob");
        EXPECT_FALSE(notice.contains("by")) << notice.dump();
    }
    // carol never was a member.
    EXPECT_TRUE(carol->stays_silent_on("chat/ctl/carol/resp/room_event"));
}

TEST_F(RoomRulesTest, AMemberIsToldOfARoomDeletedBesideTheGateway) {
    // `perch room delete` and the admin API write the store; the gateway tells the members when
    // it applies the change.
    auto bob = connected("bob", mqtt_5);
    expect_done([&](auto done) { chat_->remove_room("lobby", done); });
    const json notice = next_event(*bob, "chat/ctl/bob/resp/room_event");
    EXPECT_EQ(notice["event"], "delete");
    EXPECT_EQ(notice["room"], "lobby");
    EXPECT_EQ(bob->publish("chat/room/lobby/bob", "anyone?", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
}

TEST_F(RoomRulesTest, AKickedMembersOfflineSessionCatchesUpNothingFromTheRoomAfterARestart) {
    auto alice = connected("alice", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}});
    {
        auto bob = connected("bob/phone", mqtt_5, true);
        bob->subscribe("chat/#", 1);
        expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
        bob->disconnect();
    }
    ASSERT_EQ(alice->publish("chat/room/hall/alice", "while bob was away", 1),
              mqtt::ReasonCode::SUCCESS);
    expect_ok(*alice, "alice", {{"op", "kick"}, {"room", "hall"}, {"user", "bob"}});
    ASSERT_EQ(alice->publish("chat/room/hall/alice", "after the kick", 1),
              mqtt::ReasonCode::SUCCESS);
    alice.reset();
    broker_->stop();
    start_broker();
    // Neither what was said before the kick nor after it reaches the kicked member's session,
    // caught up from history or restored with its subscriptions.
    auto bob = connected("bob/phone", mqtt_5, true);
    EXPECT_TRUE(bob->stays_silent_on("chat/room/hall/"));
}

TEST_F(RoomRulesTest, ABannedUserCannotRejoinUntilUnbanned) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}});
    expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
    expect_ok(*alice, "alice", {{"op", "ban"}, {"room", "hall"}, {"user", "bob"}});
    EXPECT_EQ(bob->publish("chat/room/hall/bob", "hi", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
    expect_refused(*bob, "bob", {{"op", "join"}, {"room", "hall"}}, "banned");
    expect_refused(*alice, "alice", {{"op", "invite"}, {"room", "hall"}, {"user", "bob"}},
                   "banned");
    expect_ok(*alice, "alice", {{"op", "unban"}, {"room", "hall"}, {"user", "bob"}});
    expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
    EXPECT_EQ(bob->publish("chat/room/hall/bob", "back", 1), mqtt::ReasonCode::SUCCESS);
}

TEST_F(RoomRulesTest, AMutedMemberReceivesButMayNotPost) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    auto bob_old = connected("bob/old", mqtt_311);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}});
    expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
    expect_ok(*alice, "alice", {{"op", "mute"}, {"room", "hall"}, {"user", "bob"}});
    EXPECT_EQ(bob->publish("chat/room/hall/bob", "can you hear me", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(bob_old->publish("chat/room/hall/bob", "and now?", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(alice->stays_silent_on("chat/room/hall/bob"));
    ASSERT_EQ(alice->publish("chat/room/hall/alice", "you listen", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(bob->next_on("chat/room/hall/alice"));
    expect_ok(*alice, "alice", {{"op", "unmute"}, {"room", "hall"}, {"user", "bob"}});
    EXPECT_EQ(bob->publish("chat/room/hall/bob", "thanks", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(alice->next_on("chat/room/hall/bob"));
}

TEST_F(RoomRulesTest, ANewcomerReadsNothingFromBeforeAJoinedBoundary) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}, {"history", "joined"}});
    ASSERT_EQ(alice->publish("chat/room/hall/alice", "before bob", 1), mqtt::ReasonCode::SUCCESS);
    expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
    ASSERT_EQ(alice->publish("chat/room/hall/alice", "after bob", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_TRUE(bob->next_on("chat/room/hall/alice"));
    const json history = expect_ok(*bob, "bob", {{"op", "history"}, {"conversation", "room/hall"}});
    ASSERT_EQ(history["messages"].size(), 1U) << history.dump();
    EXPECT_EQ(history["messages"][0]["payload"], "after bob");
    // Paging back from the boundary finds nothing older either.
    const json older = expect_ok(*bob, "bob",
                                 {{"op", "history"},
                                  {"conversation", "room/hall"},
                                  {"before", history["messages"][0]["id"]}});
    EXPECT_TRUE(older["messages"].empty()) << older.dump();
    // The owner, there from the start, reads both.
    EXPECT_EQ(
        expect_ok(*alice, "alice", {{"op", "history"}, {"conversation", "room/hall"}})["messages"]
            .size(),
        2U);
}

TEST_F(RoomRulesTest, OnlyOwnersAndAdminsModerateAndRolesStayBelowOnesOwn) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}});
    expect_ok(*bob, "bob", {{"op", "join"}, {"room", "hall"}});
    expect_ok(*carol, "carol", {{"op", "join"}, {"room", "hall"}});
    // A member may not kick.
    expect_refused(*bob, "bob", {{"op", "kick"}, {"room", "hall"}, {"user", "carol"}},
                   "not_allowed");
    expect_refused(*bob, "bob", {{"op", "set_room"}, {"room", "hall"}, {"topic", "mine"}},
                   "not_allowed");
    // The owner makes bob admin; an admin may not demote the owner, make an owner, or demote
    // another admin.
    EXPECT_EQ(expect_ok(*alice, "alice",
                        {{"op", "role"}, {"room", "hall"}, {"user", "bob"}, {"role", "admin"}})
                  .value("role", ""),
              "admin");
    expect_refused(*bob, "bob",
                   {{"op", "role"}, {"room", "hall"}, {"user", "alice"}, {"role", "member"}},
                   "not_allowed");
    expect_refused(*bob, "bob",
                   {{"op", "role"}, {"room", "hall"}, {"user", "carol"}, {"role", "owner"}},
                   "not_allowed");
    expect_refused(*bob, "bob", {{"op", "kick"}, {"room", "hall"}, {"user", "alice"}},
                   "not_allowed");
    expect_ok(*bob, "bob",
              {{"op", "role"}, {"room", "hall"}, {"user", "carol"}, {"role", "admin"}});
    expect_refused(*bob, "bob",
                   {{"op", "role"}, {"room", "hall"}, {"user", "carol"}, {"role", "member"}},
                   "not_allowed");
    // An admin sets the name and topic; only an owner deletes; the last owner stays.
    expect_ok(*bob, "bob",
              {{"op", "set_room"}, {"room", "hall"}, {"name", "Hall"}, {"topic", "t"}});
    expect_refused(*bob, "bob", {{"op", "delete_room"}, {"room", "hall"}}, "not_allowed");
    expect_refused(*alice, "alice",
                   {{"op", "role"}, {"room", "hall"}, {"user", "alice"}, {"role", "admin"}},
                   "last_owner");
    expect_refused(*alice, "alice", {{"op", "leave"}, {"room", "hall"}}, "last_owner");
    const json members = expect_ok(*carol, "carol", {{"op", "members"}, {"room", "hall"}});
    EXPECT_EQ(members["members"], json({"alice", "bob", "carol"}));
    EXPECT_EQ(members["details"][0]["role"], "owner");
    expect_ok(*alice, "alice", {{"op", "delete_room"}, {"room", "hall"}});
    EXPECT_EQ(carol->publish("chat/room/hall/carol", "anyone?", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
}

TEST_F(RoomRulesTest, PublicRoomsAreFoundByNameOrDisplayNameAndPaged) {
    auto alice = connected("alice", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "garden-1"}, {"name", "Roses"}});
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "garden-2"}});
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "kitchen"}, {"name", "garden talk"}});
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "garden-3"}, {"visibility", "private"}});
    const json first =
        expect_ok(*carol, "carol", {{"op", "public_rooms"}, {"query", "garden"}, {"limit", 2}});
    ASSERT_EQ(first["rooms"].size(), 2U) << first.dump();
    EXPECT_EQ(first["rooms"][0]["room"], "garden-1");
    EXPECT_EQ(first["rooms"][0]["name"], "Roses");
    EXPECT_EQ(first["rooms"][0]["members"], 1);
    EXPECT_EQ(first["next"], "garden-2");
    const json second = expect_ok(
        *carol, "carol",
        {{"op", "public_rooms"}, {"query", "garden"}, {"limit", 2}, {"after", first["next"]}});
    ASSERT_EQ(second["rooms"].size(), 1U) << second.dump();
    EXPECT_EQ(second["rooms"][0]["room"], "kitchen");
    expect_ok(*carol, "carol", {{"op", "join"}, {"room", "kitchen"}});
}

} // namespace
} // namespace perch::integration
