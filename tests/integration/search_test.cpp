// Full-text search end to end (docs/CHAT.md "Search"): Paho clients at 5.0 and 3.1.1 publish to
// the perch binary and search over control requests: what each may find (rooms they are in, DMs
// they are a party to, a `joined` room from their join on, nothing from a room they left),
// edits and deletes, pages, and the server with `chat_search false` then on again.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

using json = nlohmann::json;

class SearchTest : public chat_fixture {
protected:
    /// Sends a request that must succeed and returns its reply.
    json expect_ok(chat_client& client, const std::string& user, const json& request) {
        json reply = control(client, user, request);
        EXPECT_EQ(reply.value("ok", false), true) << request.dump() << " -> " << reply.dump();
        return reply;
    }

    /// The payloads of the hits of `user`'s search `request`, newest first.
    std::vector<std::string> found(chat_client& client, const std::string& user, json request) {
        request["op"] = "search";
        const json reply = expect_ok(client, user, request);
        std::vector<std::string> payloads;
        for (const json& hit : reply.value("hits", json::array())) {
            payloads.push_back(hit["payload"]);
        }
        return payloads;
    }

    /// The error of `user`'s search `request`.
    std::string refusal(chat_client& client, const std::string& user, json request) {
        request["op"] = "search";
        const json reply = control(client, user, request);
        EXPECT_EQ(reply.value("ok", true), false) << reply.dump();
        return reply.value("error", "");
    }
};

using strings = std::vector<std::string>;

TEST_F(SearchTest, EachUserFindsWhatTheyMayReadAndNothingElse) {
    auto alice = connected("alice", mqtt_5);
    auto carol = connected("carol", mqtt_311);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "the harbour opens at dawn", 1),
              mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish("chat/dm/carol/alice", "meet me at the harbour", 1),
              mqtt::ReasonCode::SUCCESS);
    const json reply = expect_ok(*alice, "alice", {{"op", "search"}, {"q", "Harbour"}});
    ASSERT_EQ(reply["hits"].size(), 2U) << reply.dump();
    for (const json& hit : reply["hits"]) {
        EXPECT_EQ(hit["sender"], "alice");
        EXPECT_NE(hit["snippet"].get<std::string>().find("**harbour**"), std::string::npos)
            << hit.dump();
        EXPECT_GT(hit["id"].get<std::uint64_t>(), 0U);
        EXPECT_GT(hit["ts"].get<std::uint64_t>(), 0U);
    }
    // carol is not in lobby: the DM only, and the room is refused by name.
    EXPECT_EQ(found(*carol, "carol", {{"q", "harbour"}}), strings{"meet me at the harbour"});
    EXPECT_EQ(refusal(*carol, "carol", {{"q", "harbour"}, {"room", "lobby"}}),
              "not allowed to read this conversation");
    auto bob = connected("bob", mqtt_5);
    EXPECT_EQ(found(*bob, "bob", {{"q", "harbour"}}), strings{"the harbour opens at dawn"});
    // His own DM with carol holds nothing; alice and carol's DM is not his to search.
    EXPECT_TRUE(found(*bob, "bob", {{"q", "harbour"}, {"peer", "carol"}}).empty());
    EXPECT_EQ(refusal(*bob, "bob", {{"q", "harbour"}, {"conversation", "dm/carol/alice"}}),
              "not allowed to read this conversation");
    EXPECT_EQ(found(*alice, "alice", {{"q", "harbour"}, {"peer", "carol"}}),
              strings{"meet me at the harbour"});
}

TEST_F(SearchTest, ARoomOneHasLeftIsSearchedNoMore) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "the vault code is in the drawer", 1),
              mqtt::ReasonCode::SUCCESS);
    EXPECT_EQ(found(*bob, "bob", {{"q", "vault"}, {"room", "lobby"}}).size(), 1U);
    expect_ok(*bob, "bob", {{"op", "leave"}, {"room", "lobby"}});
    EXPECT_EQ(refusal(*bob, "bob", {{"q", "vault"}, {"room", "lobby"}}),
              "not allowed to read this conversation");
    EXPECT_TRUE(found(*bob, "bob", {{"q", "vault"}}).empty());
}

TEST_F(SearchTest, ANewcomerFindsNothingFromBeforeAJoinedBoundary) {
    auto alice = connected("alice", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    expect_ok(*alice, "alice", {{"op", "create"}, {"room", "hall"}, {"history", "joined"}});
    ASSERT_EQ(alice->publish("chat/room/hall/alice", "budget draft one", 1),
              mqtt::ReasonCode::SUCCESS);
    expect_ok(*carol, "carol", {{"op", "join"}, {"room", "hall"}});
    ASSERT_EQ(alice->publish("chat/room/hall/alice", "budget draft two", 1),
              mqtt::ReasonCode::SUCCESS);
    EXPECT_EQ(found(*carol, "carol", {{"q", "budget"}}), strings{"budget draft two"});
    EXPECT_EQ(found(*alice, "alice", {{"q", "budget"}}).size(), 2U);
}

TEST_F(SearchTest, EditsAndDeletesChangeWhatMatchesAndPagesFollowTheCursor) {
    auto alice = connected("alice", mqtt_5);
    for (const char* text : {"note alpha", "note beta", "note gamma", "note delta"}) {
        ASSERT_EQ(alice->publish("chat/room/lobby/alice", text, 1), mqtt::ReasonCode::SUCCESS);
    }
    expect_ok(*alice, "alice",
              {{"op", "edit"}, {"conversation", "room/lobby"}, {"id", 1}, {"text", "note omega"}});
    expect_ok(*alice, "alice", {{"op", "delete"}, {"conversation", "room/lobby"}, {"id", 2}});
    EXPECT_TRUE(found(*alice, "alice", {{"q", "alpha"}}).empty());
    EXPECT_TRUE(found(*alice, "alice", {{"q", "beta"}}).empty());
    EXPECT_EQ(found(*alice, "alice", {{"q", "omega"}}), strings{"note omega"});
    // Three notes left, two per page.
    const json first = expect_ok(*alice, "alice", {{"op", "search"}, {"q", "note"}, {"limit", 2}});
    ASSERT_EQ(first["hits"].size(), 2U) << first.dump();
    ASSERT_TRUE(first.contains("next")) << first.dump();
    const json second =
        expect_ok(*alice, "alice",
                  {{"op", "search"}, {"q", "note"}, {"limit", 2}, {"cursor", first["next"]}});
    ASSERT_EQ(second["hits"].size(), 1U) << second.dump();
    EXPECT_FALSE(second.contains("next"));
    strings all;
    for (const json* page : {&first, &second}) {
        for (const json& hit : (*page)["hits"]) {
            all.push_back(hit["payload"]);
        }
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, (strings{"note delta", "note gamma", "note omega"}));
}

TEST_F(SearchTest, WithSearchOffNothingIsIndexedAndTurningItOnFindsTheHistory) {
    broker_->stop();
    start_broker("chat_search false\n");
    {
        auto alice = connected("alice", mqtt_5);
        ASSERT_EQ(alice->publish("chat/room/lobby/alice", "written while search was off", 1),
                  mqtt::ReasonCode::SUCCESS);
        EXPECT_EQ(refusal(*alice, "alice", {{"q", "written"}}),
                  "search is off on this server (chat_search false)");
    }
    broker_->stop();
    start_broker();
    auto bob = connected("bob", mqtt_311);
    EXPECT_EQ(found(*bob, "bob", {{"q", "written"}}), strings{"written while search was off"});
}

} // namespace
} // namespace perch::integration
