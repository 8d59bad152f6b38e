// Control request parsing and reply formatting, and the per-conversation id counters.
#include <gtest/gtest.h>

#include "gateway/chat/chat_control.hpp"
#include "gateway/chat/conversation_counters.hpp"

#include <nlohmann/json.hpp>

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
    EXPECT_EQ(parsed(R"({"op":"read_state"})").conversation, "");
    const control_request state = parsed(R"({"op":"read_state","conversation":"dm/zoe/adam"})");
    EXPECT_EQ(state.operation, control_operation::read_state);
    EXPECT_EQ(state.conversation, "dm/adam/zoe");
    const control_request edit =
        parsed(R"({"op":"edit","conversation":"room/den","id":3,"text":"fixed"})");
    EXPECT_EQ(edit.operation, control_operation::edit);
    EXPECT_EQ(edit.id, 3U);
    EXPECT_EQ(edit.text, "fixed");
    EXPECT_EQ(parsed(R"({"op":"delete","conversation":"room/den","id":3})").operation,
              control_operation::remove_message);
    const control_request react =
        parsed(R"({"op":"react","conversation":"room/den","id":3,"emoji":"\ud83d\udc4d"})");
    EXPECT_EQ(react.emoji, "\xF0\x9F\x91\x8D");
    EXPECT_EQ(parsed(R"({"op":"unreact","conversation":"room/den","id":3,"emoji":"ok"})").operation,
              control_operation::unreact);
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
    EXPECT_NE(error_of(R"({"op":"read_state","conversation":"nowhere"})").find("invalid"),
              std::string::npos);
    EXPECT_EQ(error_of(R"({"op":"edit","conversation":"room/den","id":3})"), "missing \"text\"");
    EXPECT_EQ(error_of(R"({"op":"delete","conversation":"room/den"})"), "missing \"id\"");
    EXPECT_NE(error_of(R"({"op":"delete","conversation":"room/den","id":0})").find("ids start"),
              std::string::npos);
    EXPECT_EQ(error_of(R"({"op":"react","conversation":"room/den","id":1})"), "missing \"emoji\"");
    for (const char* emoji : {R"("")", R"("a\nb")", R"("0123456789012345678901234567890123")"}) {
        EXPECT_NE(
            error_of(std::string(R"({"op":"react","conversation":"room/den","id":1,"emoji":)") +
                     emoji + "}")
                .find("invalid \"emoji\""),
            std::string::npos)
            << emoji;
    }
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
    control_reply state;
    state.operation = "read_state";
    state.read_states = std::vector<store::read_state_record>{{"room/den", 9, 4, 3}};
    EXPECT_EQ(format_control_reply(state),
              R"({"conversations":[{"conversation":"room/den","last_id":9,"read_id":4,)"
              R"("unread":3}],"ok":true,"op":"read_state"})");
    control_request edit;
    edit.operation = control_operation::edit;
    edit.id = 7;
    edit.text = "new";
    EXPECT_EQ(format_message_event(edit), R"({"of":7,"text":"new","type":"edit"})");
    edit.operation = control_operation::remove_message;
    EXPECT_EQ(format_message_event(edit), R"({"of":7,"type":"delete"})");
    edit.operation = control_operation::unreact;
    edit.emoji = "x";
    EXPECT_EQ(format_message_event(edit), R"({"emoji":"x","of":7,"on":false,"type":"reaction"})");
    control_reply changed;
    changed.operation = "history";
    store::history_record deleted{"room/den", 5, "bob", "chat/room/den/bob", 99, {}};
    deleted.is_deleted = true;
    deleted.reply_to = 2;
    store::history_record reacted{"room/den", 6, "bob", "chat/room/den/bob", 99, {'o', 'k'}};
    reacted.edited_unix_ms = 120;
    reacted.reactions = {{"x", {"alice", "bob"}}};
    changed.messages = std::vector<store::history_record>{deleted, reacted};
    const nlohmann::json shown = nlohmann::json::parse(format_control_reply(changed));
    EXPECT_EQ(shown["messages"][0]["deleted"], true);
    EXPECT_FALSE(shown["messages"][0].contains("payload"));
    EXPECT_EQ(shown["messages"][0]["reply_to"], 2);
    EXPECT_EQ(shown["messages"][1]["edited_ts"], 120);
    EXPECT_EQ(shown["messages"][1]["reactions"], nlohmann::json::parse(R"({"x":["alice","bob"]})"));
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
