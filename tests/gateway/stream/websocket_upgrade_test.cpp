// websocket_upgrade: which requests are upgrades, the 101 response (accept key, subprotocol,
// permessage-deflate), and the refusals.
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "gateway/stream/websocket_upgrade.hpp"

namespace perch::gateway {
namespace {

namespace http = boost::beast::http;

upgrade_request upgrade() {
    upgrade_request request(http::verb::get, "/mqtt", 11);
    request.set(http::field::host, "localhost");
    request.set(http::field::connection, "keep-alive, Upgrade");
    request.set(http::field::upgrade, "websocket");
    // RFC 6455 1.3's example key.
    request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    request.set(http::field::sec_websocket_version, "13");
    return request;
}

TEST(WebsocketUpgrade, AnUpgradeIsAcceptedWithTheKeysAnswer) {
    const upgrade_request request = upgrade();
    EXPECT_FALSE(check_upgrade(request));
    std::optional<deflate_agreement> deflate;
    const upgrade_response response = accept_upgrade_response(request, true, 9, deflate);
    EXPECT_EQ(response.result(), http::status::switching_protocols);
    EXPECT_EQ(response[http::field::sec_websocket_accept], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    EXPECT_EQ(response[http::field::sec_websocket_protocol], "");
    EXPECT_FALSE(deflate) << "not offered";
}

TEST(WebsocketUpgrade, TheMqttSubprotocolIsEchoedFirst) {
    upgrade_request request = upgrade();
    request.set(http::field::sec_websocket_protocol, "mqttv3.1, mqtt");
    std::optional<deflate_agreement> deflate;
    EXPECT_EQ(
        accept_upgrade_response(request, true, 9, deflate)[http::field::sec_websocket_protocol],
        "mqtt");
    request.set(http::field::sec_websocket_protocol, "chat, mqttv3.1");
    EXPECT_EQ(
        accept_upgrade_response(request, true, 9, deflate)[http::field::sec_websocket_protocol],
        "mqttv3.1");
}

TEST(WebsocketUpgrade, DeflateIsAgreedOnlyWhenEnabledAndOffered) {
    upgrade_request request = upgrade();
    request.insert(http::field::sec_websocket_extensions, "x-unknown");
    request.insert(http::field::sec_websocket_extensions,
                   "permessage-deflate; client_max_window_bits");
    std::optional<deflate_agreement> deflate;
    const upgrade_response response = accept_upgrade_response(request, true, 9, deflate);
    ASSERT_TRUE(deflate) << "offered in the second header";
    EXPECT_EQ(deflate->client_window_bits, 9);
    EXPECT_EQ(response[http::field::sec_websocket_extensions], deflate->response);
    const upgrade_response plain = accept_upgrade_response(request, false, 9, deflate);
    EXPECT_FALSE(deflate);
    EXPECT_EQ(plain[http::field::sec_websocket_extensions], "");
}

TEST(WebsocketUpgrade, RequestsThatAreNoUpgradeAreRefused) {
    upgrade_request post = upgrade();
    post.method(http::verb::post);
    upgrade_request http10 = upgrade();
    http10.version(10);
    upgrade_request no_upgrade = upgrade();
    no_upgrade.set(http::field::connection, "keep-alive");
    upgrade_request no_key = upgrade();
    no_key.erase(http::field::sec_websocket_key);
    upgrade_request long_key = upgrade();
    long_key.set(http::field::sec_websocket_key, std::string(64, 'k'));
    for (const upgrade_request& request : {post, http10, no_upgrade, no_key, long_key}) {
        const auto refusal = check_upgrade(request);
        ASSERT_TRUE(refusal);
        EXPECT_EQ(refusal->status, http::status::bad_request);
    }
}

TEST(WebsocketUpgrade, AnotherVersionGets426NamingVersion13) {
    upgrade_request request = upgrade();
    request.set(http::field::sec_websocket_version, "8");
    const auto refusal = check_upgrade(request);
    ASSERT_TRUE(refusal);
    EXPECT_EQ(refusal->status, http::status::upgrade_required);
    const upgrade_response response =
        refuse_upgrade_response(request, refusal->status, refusal->reason);
    EXPECT_EQ(response[http::field::sec_websocket_version], "13");
    EXPECT_EQ(response[http::field::connection], "close");
    EXPECT_EQ(response.body(), std::string(refusal->reason) + "\n");
}

} // namespace
} // namespace perch::gateway
