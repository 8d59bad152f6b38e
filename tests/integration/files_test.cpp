// Files in chat end to end (docs/CHAT.md "Files"): Paho clients at 5.0 and 3.1.1 obtain file
// tokens by control request, upload and download over the perch binary's http listener, and
// reference files from messages; who may download (members, the parties of a DM, not a
// non-member, not after a kick), the limits and the quota, and a file gone once the message that
// referenced it is deleted.
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include "http_client.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

using json = nlohmann::json;

/// A chat message referencing file `id`.
std::string message_with(const std::string& id) {
    return json{{"text", "a photo"}, {"files", {id}}}.dump();
}

class FilesTest : public chat_fixture {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "perch's chat layer only";
        }
        http_port_ = free_loopback_port();
        chat_fixture::SetUp();
        broker_->stop();
        start_broker("listener " + std::to_string(http_port_) +
                     " 127.0.0.1\nprotocol http\nfile_max_bytes 1000\nfile_quota_bytes 1500\n"
                     "file_unreferenced_grace_s 2\nfile_sweep_interval_s 1\n");
    }

    /// A file token of `user` from op file_token.
    std::string token_of(chat_client& client, const std::string& user) {
        const json reply = control(client, user, {{"op", "file_token"}});
        EXPECT_EQ(reply.value("ok", false), true) << reply.dump();
        EXPECT_GT(reply.value("expires_at", std::uint64_t{0}), 0U) << reply.dump();
        return reply.value("token", "");
    }

    http_answer upload(const std::string& authorization, const std::string& body) {
        return http_exchange(
            http_port_, "POST /files?name=photo.png HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Authorization: " +
                            authorization + "\r\nContent-Type: image/png\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    }

    /// Uploads `body` with `token` and returns the new file's id.
    std::string uploaded(const std::string& token, const std::string& body) {
        const http_answer answer = upload("Bearer " + token, body);
        EXPECT_EQ(answer.status, 201U) << answer.raw;
        return json::parse(answer.body, nullptr, false).value("id", "");
    }

    http_answer download(const std::string& token, const std::string& id) {
        return http_get(http_port_, "/files/" + id, "Authorization: Bearer " + token + "\r\n");
    }

    std::uint16_t http_port_ = 0;
};

TEST_F(FilesTest, AMemberDownloadsAFileOfTheRoomAndANonMemberIsRefused) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    auto carol = connected("carol", mqtt_5);
    const std::string alice_token = token_of(*alice, "alice");
    const std::string id = uploaded(alice_token, "PNG-bytes");
    ASSERT_EQ(id.size(), 32U);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", message_with(id), 1),
              mqtt::ReasonCode::SUCCESS);
    // bob receives the message with its reference as sent.
    const auto received = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(received);
    EXPECT_EQ(json::parse(received->payload)["files"][0], id);

    const http_answer got = download(token_of(*bob, "bob"), id);
    EXPECT_EQ(got.status, 200U) << got.raw;
    EXPECT_EQ(got.body, "PNG-bytes");
    EXPECT_NE(got.raw.find("X-Content-Type-Options: nosniff"), std::string::npos) << got.raw;

    // carol is not in lobby: the file does not exist for her.
    const http_answer refused = download(token_of(*carol, "carol"), id);
    EXPECT_EQ(refused.status, 404U) << refused.raw;
    EXPECT_EQ(json::parse(refused.body)["error"], "not_found");
}

TEST_F(FilesTest, AFileOfADirectMessageIsReadOnlyByItsParties) {
    auto alice = connected("alice", mqtt_311);
    auto bob = connected("bob", mqtt_5);
    auto carol = connected("carol", mqtt_311);
    const std::string id = uploaded(token_of(*alice, "alice"), "for bob only");
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", message_with(id), 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_EQ(download(token_of(*bob, "bob"), id).status, 200U);
    EXPECT_EQ(download(token_of(*carol, "carol"), id).status, 404U);
}

TEST_F(FilesTest, AKickedMemberIsRefusedTheRoomsFiles) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    ASSERT_EQ(control(*alice, "alice", {{"op", "create"}, {"room", "den"}}).value("ok", false),
              true);
    ASSERT_EQ(control(*bob, "bob", {{"op", "join"}, {"room", "den"}}).value("ok", false), true);
    const std::string id = uploaded(token_of(*alice, "alice"), "den plans");
    ASSERT_EQ(alice->publish("chat/room/den/alice", message_with(id), 1),
              mqtt::ReasonCode::SUCCESS);
    const std::string bob_token = token_of(*bob, "bob");
    EXPECT_EQ(download(bob_token, id).status, 200U);
    const json kicked =
        control(*alice, "alice", {{"op", "kick"}, {"room", "den"}, {"user", "bob"}});
    ASSERT_EQ(kicked.value("ok", false), true) << kicked.dump();
    EXPECT_EQ(download(bob_token, id).status, 404U);
}

TEST_F(FilesTest, EveryRefusalNamesItsProblem) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    // No credentials, a bad token, a wrong password: 401 with a challenge.
    const http_answer anonymous = http_get(http_port_, "/files/" + std::string(32, 'a'));
    EXPECT_EQ(anonymous.status, 401U);
    EXPECT_NE(anonymous.raw.find("WWW-Authenticate: Bearer"), std::string::npos) << anonymous.raw;
    EXPECT_EQ(json::parse(anonymous.body)["error"], "unauthorized");
    EXPECT_EQ(upload("Bearer pft_nonsense", "x").status, 401U);
    // "bob:wrong" and "alice:alice-pw" in Basic.
    EXPECT_EQ(upload("Basic Ym9iOndyb25n", "x").status, 401U);
    EXPECT_EQ(upload("Basic YWxpY2U6YWxpY2UtcHc=", "by password").status, 201U);

    const std::string token = token_of(*alice, "alice");
    const http_answer large = upload("Bearer " + token, std::string(1001, 'x'));
    EXPECT_EQ(large.status, 413U) << large.raw;
    EXPECT_EQ(json::parse(large.body)["error"], "file_too_large");
    EXPECT_EQ(uploaded(token, std::string(900, 'a')).size(), 32U);
    const http_answer over = upload("Bearer " + token, std::string(900, 'b'));
    EXPECT_EQ(over.status, 413U) << over.raw;
    EXPECT_EQ(json::parse(over.body)["error"], "quota_exceeded");

    // A message may reference only its sender's files: PUBACK 0x87 at 5.0.
    const std::string id = uploaded(token_of(*bob, "bob"), "bob's");
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", message_with(id), 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", R"({"files":"not a list"})", 1),
              mqtt::ReasonCode::PAYLOAD_FORMAT_INVALID);
}

TEST_F(FilesTest, AFileIsRemovedOnceTheMessageReferencingItIsDeleted) {
    auto alice = connected("alice", mqtt_5);
    const std::string token = token_of(*alice, "alice");
    const std::string id = uploaded(token, "short-lived");
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", message_with(id), 1),
              mqtt::ReasonCode::SUCCESS);
    const json deleted =
        control(*alice, "alice", {{"op", "delete"}, {"conversation", "room/lobby"}, {"id", 1}});
    ASSERT_EQ(deleted.value("ok", false), true) << deleted.dump();
    // Unreferenced now: the sweep (every second, past a grace of 2 s) removes it from disk.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    unsigned status = 200;
    while (status == 200 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(200ms);
        status = download(token, id).status;
    }
    EXPECT_EQ(status, 404U);
    EXPECT_FALSE(std::filesystem::exists(data_.path() / "files" / id));
}

/// The file API on the app's own origin: the WebSocket listeners, plain and over TLS, answer
/// /files as the http listener does (docs/WEB_APP.md), beside the app's files and MQTT.
class FilesOnTheAppOrigin : public chat_fixture {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "perch's chat layer only";
        }
        websocket_port_ = free_loopback_port();
        websocket_tls_port_ = free_loopback_port();
        chat_fixture::SetUp();
        broker_->stop();
        std::filesystem::create_directories(site_.path());
        write_file_text(site_.path() / "index.html", "<!doctype html><title>chat</title>");
        start_broker("web_root " + site_.path().string() + "\nlistener " +
                     std::to_string(websocket_port_) + " 127.0.0.1\nprotocol websocket\nlistener " +
                     std::to_string(websocket_tls_port_) +
                     " 127.0.0.1\nprotocol websocket_tls\nfile_max_bytes 3000000\n");
    }

    std::string token_of(chat_client& client, const std::string& user) {
        const json reply = control(client, user, {{"op", "file_token"}});
        EXPECT_EQ(reply.value("ok", false), true) << reply.dump();
        return reply.value("token", "");
    }

    /// curl over TLS to the websocket_tls listener, trusting the certificate perch generated:
    /// the status code, then the body in `body_file`.
    command_result curl_tls(const std::vector<std::string>& arguments) {
        std::vector<std::string> argv{"curl",
                                      "--silent",
                                      "--show-error",
                                      "--max-time",
                                      "30",
                                      "--cacert",
                                      (data_.path() / "perch-cert.pem").string(),
                                      "--resolve",
                                      "localhost:" + std::to_string(websocket_tls_port_) +
                                          ":127.0.0.1",
                                      "--write-out",
                                      "%{http_code}"};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        return run_command(argv, "", 60s);
    }

    std::string tls_url(const std::string& path) const {
        return "https://localhost:" + std::to_string(websocket_tls_port_) + path;
    }

    temporary_directory site_;
    std::uint16_t websocket_port_ = 0;
    std::uint16_t websocket_tls_port_ = 0;
};

/// A body that no single repeated byte could pass for.
std::string patterned_bytes(std::size_t size) {
    std::string bytes(size, '\0');
    for (std::size_t index = 0; index < size; ++index) {
        bytes[index] = static_cast<char>((index * 7 + index / 251) % 256);
    }
    return bytes;
}

TEST_F(FilesOnTheAppOrigin, UploadsAndDownloadsOverThePlainWebSocketListener) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    const std::string body = patterned_bytes(2'500'000);
    const http_answer stored = http_exchange(
        websocket_port_, "POST /files?name=big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Authorization: Bearer " +
                             token_of(*alice, "alice") +
                             "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body);
    ASSERT_EQ(stored.status, 201U) << stored.raw;
    const std::string id = json::parse(stored.body).value("id", "");
    ASSERT_EQ(id.size(), 32U);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", message_with(id), 1),
              mqtt::ReasonCode::SUCCESS);

    const http_answer got = http_get(websocket_port_, "/files/" + id,
                                     "Authorization: Bearer " + token_of(*bob, "bob") + "\r\n");
    EXPECT_EQ(got.status, 200U) << got.raw.substr(0, 400);
    EXPECT_TRUE(got.body == body) << got.body.size() << " bytes";
    // A download resumes: one range, 206 with its Content-Range.
    const http_answer part = http_get(websocket_port_, "/files/" + id,
                                      "Authorization: Bearer " + token_of(*bob, "bob") +
                                          "\r\nRange: bytes=1000000-\r\n");
    EXPECT_EQ(part.status, 206U) << part.raw.substr(0, 400);
    EXPECT_NE(part.raw.find("Content-Range: bytes 1000000-2499999/2500000\r\n"), std::string::npos)
        << part.raw.substr(0, 400);
    EXPECT_TRUE(part.body == body.substr(1'000'000)) << part.body.size() << " bytes";
    // The rest of the origin is as before: the app's files, and 401 without credentials.
    EXPECT_EQ(http_get(websocket_port_, "/").body, "<!doctype html><title>chat</title>");
    EXPECT_EQ(http_get(websocket_port_, "/files/" + id).status, 401U);
}

TEST_F(FilesOnTheAppOrigin, RefusesAnUploadPastTheLimitWith413) {
    auto alice = connected("alice", mqtt_5);
    const http_answer refused = http_exchange(
        websocket_port_, "POST /files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                             token_of(*alice, "alice") + "\r\nContent-Length: 3000001\r\n\r\n");
    EXPECT_EQ(refused.status, 413U) << refused.raw;
    EXPECT_EQ(json::parse(refused.body, nullptr, false).value("error", ""), "file_too_large");
}

TEST_F(FilesOnTheAppOrigin, UploadsAndDownloadsOverTls) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    const std::string body = patterned_bytes(1'000'000);
    const temporary_directory scratch;
    write_file_text(scratch.path() / "upload.bin", body);
    const command_result stored =
        curl_tls({"--header", "Authorization: Bearer " + token_of(*alice, "alice"), "--header",
                  "Content-Type: application/octet-stream", "--data-binary",
                  "@" + (scratch.path() / "upload.bin").string(), tls_url("/files?name=a.bin")});
    ASSERT_TRUE(stored.ending.is_success()) << stored.errors;
    ASSERT_GE(stored.output.size(), 3U);
    EXPECT_EQ(stored.output.substr(stored.output.size() - 3), "201") << stored.output;
    const std::string id =
        json::parse(stored.output.substr(0, stored.output.size() - 3), nullptr, false)
            .value("id", "");
    ASSERT_EQ(id.size(), 32U) << stored.output;
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", message_with(id), 1),
              mqtt::ReasonCode::SUCCESS);

    const command_result got =
        curl_tls({"--header", "Authorization: Bearer " + token_of(*bob, "bob"), "--output",
                  (scratch.path() / "download.bin").string(), tls_url("/files/" + id)});
    ASSERT_TRUE(got.ending.is_success()) << got.errors;
    EXPECT_EQ(got.output, "200");
    EXPECT_TRUE(read_file_text(scratch.path() / "download.bin") == body);
}

} // namespace
} // namespace perch::integration
