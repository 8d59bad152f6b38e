// Tests of the server-sent events decoder.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/assistant/sse_parser.hpp"

namespace perch::gateway::assistant {
namespace {

std::vector<sse_event> decode_in_pieces(std::string_view stream, std::size_t piece_size) {
    sse_parser parser;
    std::vector<sse_event> events;
    for (std::size_t offset = 0; offset < stream.size(); offset += piece_size) {
        EXPECT_TRUE(parser.handle_bytes(stream.substr(offset, piece_size), events));
    }
    return events;
}

TEST(SseParser, DispatchesAtBlankLinesWhateverTheSplit) {
    const std::string stream = "data: {\"a\":1}\n\n: keep-alive comment\n\ndata: [DONE]\n\n";
    for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
        const auto events = decode_in_pieces(stream, piece);
        ASSERT_EQ(events.size(), 2U) << "piece size " << piece;
        EXPECT_EQ(events[0].data, "{\"a\":1}");
        EXPECT_EQ(events[1].data, "[DONE]");
        EXPECT_EQ(events[1].type, "message");
    }
}

TEST(SseParser, AcceptsCrLfAndCrLineEnds) {
    for (const std::string_view stream :
         {"data: x\r\n\r\ndata: y\r\n\r\n", "data: x\r\rdata: y\r\r"}) {
        for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
            const auto events = decode_in_pieces(stream, piece);
            ASSERT_EQ(events.size(), 2U) << "piece size " << piece;
            EXPECT_EQ(events[0].data, "x");
            EXPECT_EQ(events[1].data, "y");
        }
    }
}

TEST(SseParser, JoinsDataLinesAndKeepsTheEventType) {
    const auto events = decode_in_pieces("event: error\ndata: one\ndata:two\nid: 7\n\n", 3);
    ASSERT_EQ(events.size(), 1U);
    EXPECT_EQ(events[0].type, "error");
    EXPECT_EQ(events[0].data, "one\ntwo");
}

TEST(SseParser, BlankLinesWithoutDataDispatchNothing) {
    const auto events = decode_in_pieces("\n\nevent: ping\n\n: only a comment\n\n", 1);
    EXPECT_TRUE(events.empty());
}

TEST(SseParser, AnIncompleteEventWaitsForItsBlankLine) {
    sse_parser parser;
    std::vector<sse_event> events;
    EXPECT_TRUE(parser.handle_bytes("data: partial\n", events));
    EXPECT_TRUE(events.empty());
    EXPECT_TRUE(parser.handle_bytes("\n", events));
    ASSERT_EQ(events.size(), 1U);
    EXPECT_EQ(events[0].data, "partial");
}

TEST(SseParser, AnOverlongLineFailsForGood) {
    sse_parser parser(16);
    std::vector<sse_event> events;
    EXPECT_FALSE(parser.handle_bytes("data: " + std::string(32, 'x'), events));
    EXPECT_TRUE(parser.has_failed());
    EXPECT_FALSE(parser.handle_bytes("\n\ndata: ok\n\n", events));
    EXPECT_TRUE(events.empty());
}

TEST(SseParser, ManyDataLinesCannotGrowAnEventPastTheLimit) {
    sse_parser parser(16);
    std::vector<sse_event> events;
    EXPECT_FALSE(parser.handle_bytes("data: 12345\ndata: 12345\ndata: 12345\n", events));
    EXPECT_TRUE(parser.has_failed());
}

} // namespace
} // namespace perch::gateway::assistant
