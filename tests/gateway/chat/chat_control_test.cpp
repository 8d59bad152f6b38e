// Control request parsing and reply formatting, and the per-conversation id counters.
#include <gtest/gtest.h>

#include "gateway/chat/chat_control.hpp"
#include "gateway/chat/conversation_counters.hpp"

namespace perch::gateway {
namespace {

control_request parsed(std::string_view payload) {
    auto outcome = parse_control_request(payload);
    if (auto* error = std::get_if<control_parse_error>(&outcome)) {
        ADD_FAILURE() << payload << ": " << error->message;
        return {};
    }
    return std::get<control_request>(outcome);
}

std::string error_of(std::string_view payload) {
    auto outcome = parse_control_request(payload);
    if (auto* error = std::get_if<control_parse_error>(&outcome)) {
        return error->message;
    }
    ADD_FAILURE() << payload << " was accepted";
    return {};
}

TEST(ChatControlTest, ParsesEveryOperation) {
    EXPECT_EQ(parsed(R"({"op":"create","room":"den"})").room, "den");
    EXPECT_EQ(parsed(R"({"op":"join","room":"den"})").operation, control_operation::join);
    EXPECT_EQ(parsed(R"({"op":"leave","room":"den"})").operation, control_operation::leave);
    const control_request invite = parsed(R"({"op":"invite","room":"den","user":"bob"})");
    EXPECT_EQ(invite.user, "bob");
    EXPECT_EQ(parsed(R"({"op":"rooms"})").operation, control_operation::rooms);
    EXPECT_EQ(parsed(R"({"op":"members","room":"den"})").operation, control_operation::members);
    const control_request history =
        parsed(R"({"op":"history","conversation":"dm/zoe/adam","before":10,"limit":5})");
    EXPECT_EQ(history.conversation, "dm/adam/zoe");
    EXPECT_EQ(history.before_id, 10U);
    EXPECT_EQ(history.limit, 5U);
    EXPECT_EQ(parsed(R"({"op":"history","conversation":"room/den"})").limit, default_history_page);
    const control_request read = parsed(R"({"op":"read","conversation":"room/den","id":7})");
    EXPECT_EQ(read.id, 7U);
}

TEST(ChatControlTest, RefusesBadRequestsWithAReason) {
    EXPECT_EQ(error_of("not json"), "the request is not a JSON object");
    EXPECT_EQ(error_of("[1,2]"), "the request is not a JSON object");
    EXPECT_EQ(error_of(R"({"room":"den"})"), "missing \"op\"");
    EXPECT_EQ(error_of(R"({"op":"fly"})"), "unknown op \"fly\"");
    EXPECT_EQ(error_of(R"({"op":"join"})"), "missing \"room\"");
    EXPECT_NE(error_of(R"({"op":"join","room":"a/b"})").find("invalid \"room\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"op":"history","conversation":"room/a/b"})").find("invalid"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"op":"history","conversation":"room/a","limit":0})").find("limit"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"op":"history","conversation":"room/a","before":-1})").find("before"),
              std::string::npos);
    EXPECT_EQ(error_of(R"({"op":"read","conversation":"room/a"})"), "missing \"id\"");
}

TEST(ChatControlTest, FormatsRepliesAndSignals) {
    control_reply ok;
    ok.operation = "members";
    ok.room = "den";
    ok.names = std::vector<std::string>{"alice", "bob"};
    EXPECT_EQ(format_control_reply(ok),
              R"({"members":["alice","bob"],"ok":true,"op":"members","room":"den"})");
    control_reply failed;
    failed.is_ok = false;
    failed.operation = "join";
    failed.error = "no such room";
    EXPECT_EQ(format_control_reply(failed), R"({"error":"no such room","ok":false,"op":"join"})");
    control_reply page;
    page.operation = "history";
    page.messages = std::vector<store::history_record>{
        {"room/den", 3, "bob", "chat/room/den/bob", 99, {'h', 'i'}},
        {"room/den", 4, "bob", "chat/room/den/bob", 100, {0xff, 0x00}}};
    const std::string text = format_control_reply(page);
    EXPECT_NE(text.find(R"("payload":"hi")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"("payload_base64":"/wA=")"), std::string::npos) << text;
    EXPECT_EQ(format_presence("alice", 2, 5),
              R"({"devices":2,"status":"online","ts":5,"user":"alice"})");
    EXPECT_NE(format_presence("alice", 0, 5).find(R"("status":"offline")"), std::string::npos);
    EXPECT_EQ(format_read_signal("bob", "dm/alice/bob", 4),
              R"({"conversation":"dm/alice/bob","id":4,"type":"read","user":"bob"})");
}

TEST(ConversationCountersTest, IdsIncreasePerConversationFromTheSeed) {
    conversation_counters counters;
    counters.seed({{"room/den", 41}, {"dm/a/b", 2}});
    EXPECT_EQ(counters.next_id("room/den"), 42U);
    EXPECT_EQ(counters.next_id("room/den"), 43U);
    EXPECT_EQ(counters.next_id("dm/a/b"), 3U);
    EXPECT_EQ(counters.next_id("room/new"), 1U);
    EXPECT_EQ(counters.last_id("room/den"), 43U);
    EXPECT_EQ(counters.last_id("room/none"), 0U);
    counters.seed({{"room/den", 10}});
    EXPECT_EQ(counters.next_id("room/den"), 44U);
}

} // namespace
} // namespace perch::gateway
