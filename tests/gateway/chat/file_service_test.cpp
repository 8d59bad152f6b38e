// The file API without sockets: a request in, a response out, over the memory chat store and a
// temporary directory. Authentication, limits, quotas, access through the conversations that
// reference a file, removal and the sweep.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <utility>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <gtest/gtest.h>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/file_service.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/stored_message_codec.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

std::string basic(std::string_view user, std::string_view password) {
    const std::string pair = std::string(user) + ":" + std::string(password);
    std::string encoded(boost::beast::detail::base64::encoded_size(pair.size()), '\0');
    encoded.resize(boost::beast::detail::base64::encode(encoded.data(), pair.data(), pair.size()));
    return "Basic " + encoded;
}

class FileServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/perch-files-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        store::store_options options;
        options.durability = store::durability_level::none;
        auto store = store::open_chat_store(options);
        const auto ignore = [](store::directory_result, const store::store_status&) {};
        for (const char* user : {"alice", "bob", "carol"}) {
            store->add_user({user, hash_password(std::string(user) + "-pw", 1), 1}, ignore);
        }
        store->add_room({"lobby", "", 1}, ignore);
        store->add_member({"lobby", "alice"}, ignore);
        store->add_member({"lobby", "bob"}, ignore);
        chat_settings settings;
        settings.password_iterations = 1;
        chat_ = std::make_unique<chat_service>(std::move(store), settings);
        chat_->load();
        file_settings files;
        files.directory = (root_ / "files").string();
        files.max_file_bytes = 100;
        files.quota_bytes = 150;
        files.unreferenced_grace_s = 60;
        files_ = std::make_unique<file_service>(*chat_, files);
        files_->load();
        chat_->attach_files(files_.get());
    }

    void TearDown() override {
        files_->stop();
        files_.reset();
        chat_.reset();
        std::filesystem::remove_all(root_);
    }

    file_http_response call(http::verb method, std::string target, std::string authorization,
                            std::string body = {}, std::string content_type = {}) {
        file_http_request request{method, target, 11};
        if (!authorization.empty()) {
            request.set(http::field::authorization, authorization);
        }
        if (!content_type.empty()) {
            request.set(http::field::content_type, content_type);
        }
        request.body() = std::move(body);
        request.prepare_payload();
        std::promise<file_http_response> answer;
        files_->handle(std::move(request), "127.0.0.1:5000",
                       [&](file_http_response response) { answer.set_value(std::move(response)); });
        auto future = answer.get_future();
        if (future.wait_for(10s) != std::future_status::ready) {
            ADD_FAILURE() << "no answer to " << target;
            return {};
        }
        return future.get();
    }

    /// Uploads `body` as `user` (password login) and returns the new id.
    std::string upload(const std::string& user, std::string body) {
        const file_http_response response =
            call(http::verb::post, "/files?name=note.txt", basic(user, user + "-pw"),
                 std::move(body), "text/plain");
        EXPECT_EQ(response.result(), http::status::created) << response.body();
        return json::parse(response.body()).value("id", "");
    }

    std::string token_of(const std::string& user) {
        control_request request;
        request.operation = control_operation::file_token;
        const control_outcome outcome = files_->issue_token(request, user, unix_now_ms());
        EXPECT_TRUE(outcome.reply.is_ok);
        return outcome.reply.token.value_or("");
    }

    http::status get_status(const std::string& user, const std::string& id) {
        return call(http::verb::get, "/files/" + id, "Bearer " + token_of(user)).result();
    }

    /// Stores message `id` of `conversation` by alice, referencing `file`.
    void post_referencing(const std::string& conversation, std::uint64_t id,
                          const std::string& file) {
        store::history_record record;
        record.conversation = conversation;
        record.id = id;
        record.sender = "alice";
        record.topic = "chat/" + conversation + "/alice";
        record.ts_unix_ms = unix_now_ms();
        chat_->store().append_history(record);
        files_->record_references(conversation, id, {file});
        chat_->store().flush();
    }

    /// Starts a streamed upload as `user` (password login) with `content_length` when given.
    std::pair<std::shared_ptr<http_body_sink>, std::optional<file_http_response>>
    begin(const std::string& user, std::optional<std::size_t> content_length) {
        file_http_request header{http::verb::post, "/files?name=streamed.bin", 11};
        header.set(http::field::authorization, basic(user, user + "-pw"));
        if (content_length) {
            header.set(http::field::content_length, std::to_string(*content_length));
        }
        std::promise<std::pair<std::shared_ptr<http_body_sink>, std::optional<file_http_response>>>
            ready;
        files_->begin_upload(
            header, "127.0.0.1:5000",
            [&](std::shared_ptr<http_body_sink> sink, std::optional<file_http_response> refusal) {
                ready.set_value({std::move(sink), std::move(refusal)});
            });
        return ready.get_future().get();
    }

    /// Writes `bytes` into `sink`; the refusal it answered, if any.
    static std::optional<file_http_response> put(http_body_sink& sink, std::string bytes) {
        std::promise<std::optional<file_http_response>> written;
        sink.write(std::move(bytes), [&](std::optional<file_http_response> refusal) {
            written.set_value(std::move(refusal));
        });
        return written.get_future().get();
    }

    static file_http_response finish(http_body_sink& sink) {
        std::promise<file_http_response> done;
        sink.finish([&](file_http_response response) { done.set_value(std::move(response)); });
        return done.get_future().get();
    }

    /// The temporary files of uploads in progress.
    std::size_t partial_files() const {
        std::size_t count = 0;
        for (const auto& entry : std::filesystem::directory_iterator(root_ / "files")) {
            count += entry.path().extension() == ".part" ? 1 : 0;
        }
        return count;
    }

    std::filesystem::path root_;
    std::unique_ptr<chat_service> chat_;
    std::unique_ptr<file_service> files_;
};

TEST_F(FileServiceTest, RefusesMissingOrBadCredentialsWithAJsonErrorAndAChallenge) {
    for (const std::string& authorization :
         {std::string(), std::string("Bearer pft_0123"), basic("alice", "wrong"),
          basic("mallory", "x"), std::string("Basic !!!"), std::string("Digest x")}) {
        const file_http_response response = call(http::verb::post, "/files", authorization, "x");
        EXPECT_EQ(response.result(), http::status::unauthorized) << authorization;
        EXPECT_NE(response[http::field::www_authenticate].find("Bearer"),
                  boost::beast::string_view::npos);
        EXPECT_EQ(json::parse(response.body())["error"], "unauthorized");
    }
    EXPECT_EQ(files_->counts().refused_unauthorized.value(), 6U);
}

TEST_F(FileServiceTest, AnUploadIsStoredDurablyAndReadBackByItsOwner) {
    const file_http_response created = call(http::verb::post, "/files?name=greeting%20one.txt",
                                            basic("alice", "alice-pw"), "hello", "text/plain");
    ASSERT_EQ(created.result(), http::status::created) << created.body();
    const json answer = json::parse(created.body());
    const std::string id = answer["id"];
    EXPECT_EQ(id.size(), 32U);
    EXPECT_EQ(answer["size"], 5);
    EXPECT_EQ(answer["content_type"], "text/plain");
    EXPECT_EQ(answer["name"], "greeting one.txt");
    EXPECT_EQ(answer["sha256"], "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    // On disk beside the database, owner-only directory.
    std::ifstream stored(root_ / "files" / id);
    std::string content((std::istreambuf_iterator<char>(stored)), {});
    EXPECT_EQ(content, "hello");
    EXPECT_EQ(std::filesystem::status(root_ / "files").permissions(),
              std::filesystem::perms::owner_all);

    const file_http_response got =
        call(http::verb::get, "/files/" + id, "Bearer " + token_of("alice"));
    ASSERT_EQ(got.result(), http::status::ok);
    EXPECT_EQ(got.body(), "hello");
    EXPECT_EQ(got[http::field::content_type], "text/plain");
    EXPECT_EQ(got[http::field::etag], "\"" + std::string(answer["sha256"]) + "\"");
    EXPECT_EQ(got["X-Content-Type-Options"], "nosniff");
    EXPECT_EQ(got[http::field::content_disposition], "attachment; filename=\"greeting one.txt\"");
    // The same ETag: not sent again.
    file_http_request again{http::verb::get, "/files/" + id, 11};
    again.set(http::field::authorization, "Bearer " + token_of("alice"));
    again.set(http::field::if_none_match, got[http::field::etag]);
    std::promise<file_http_response> answer_again;
    files_->handle(again, "127.0.0.1:1",
                   [&](file_http_response response) { answer_again.set_value(response); });
    EXPECT_EQ(answer_again.get_future().get().result(), http::status::not_modified);
    EXPECT_EQ(files_->counts().uploads.value(), 1U);
    EXPECT_EQ(files_->counts().stored_bytes.load(), 5U);
}

TEST_F(FileServiceTest, ServesASingleByteRangeAndRefusesOneOutsideTheFile) {
    const std::string id = upload("alice", "0123456789");
    const std::string bearer = "Bearer " + token_of("alice");
    const auto ranged = [&](const std::string& range, const std::string& if_range = {}) {
        file_http_request request{http::verb::get, "/files/" + id, 11};
        request.set(http::field::authorization, bearer);
        request.set(http::field::range, range);
        if (!if_range.empty()) {
            request.set(http::field::if_range, if_range);
        }
        std::promise<file_http_response> answer;
        files_->handle(request, "127.0.0.1:1",
                       [&](file_http_response response) { answer.set_value(response); });
        return answer.get_future().get();
    };
    const file_http_response middle = ranged("bytes=2-5");
    EXPECT_EQ(middle.result(), http::status::partial_content);
    EXPECT_EQ(middle.body(), "2345");
    EXPECT_EQ(middle[http::field::content_range], "bytes 2-5/10");
    EXPECT_EQ(middle[http::field::content_length], "4");
    EXPECT_EQ(middle[http::field::accept_ranges], "bytes");
    EXPECT_EQ(ranged("bytes=7-").body(), "789");
    EXPECT_EQ(ranged("bytes=-3").body(), "789");
    const file_http_response outside = ranged("bytes=10-");
    EXPECT_EQ(outside.result(), http::status::range_not_satisfiable);
    EXPECT_EQ(outside[http::field::content_range], "bytes */10");
    EXPECT_TRUE(outside.body().empty());
    // Several ranges, or an If-Range naming another version: the whole file.
    const file_http_response several = ranged("bytes=0-1,4-5");
    EXPECT_EQ(several.result(), http::status::ok);
    EXPECT_EQ(several.body(), "0123456789");
    EXPECT_EQ(ranged("bytes=2-5", "\"other\"").body(), "0123456789");
    EXPECT_EQ(ranged("bytes=2-5", std::string(middle[http::field::etag])).body(), "2345");
}

TEST_F(FileServiceTest, AStreamedUploadIsWrittenPieceByPieceAndCommittedOnFinish) {
    auto [sink, refusal] = begin("alice", 11);
    ASSERT_TRUE(sink) << (refusal ? refusal->body() : "");
    EXPECT_FALSE(put(*sink, "hello "));
    EXPECT_EQ(partial_files(), 1U);
    EXPECT_FALSE(put(*sink, "files"));
    const file_http_response created = finish(*sink);
    ASSERT_EQ(created.result(), http::status::created) << created.body();
    const json answer = json::parse(created.body());
    EXPECT_EQ(answer["size"], 11);
    EXPECT_EQ(answer["name"], "streamed.bin");
    // SHA-256 of "hello files", hashed as the pieces went by.
    EXPECT_EQ(answer["sha256"], "6e5bc8df28cfac06658769974f895070db24676563ebc1ae17fb961f5da4d5e9");
    EXPECT_EQ(partial_files(), 0U);
    const file_http_response got =
        call(http::verb::get, "/files/" + std::string(answer["id"]), "Bearer " + token_of("alice"));
    EXPECT_EQ(got.body(), "hello files");
    EXPECT_EQ(got[http::field::etag], "\"" + std::string(answer["sha256"]) + "\"");
}

TEST_F(FileServiceTest, AStreamedUploadChecksTheQuotaUpFrontAndAsBytesArrive) {
    // 100 of the 150 bytes of quota used; a Content-Length of 60 more is refused before any byte.
    auto [first, first_refusal] = begin("alice", 100);
    ASSERT_TRUE(first) << (first_refusal ? first_refusal->body() : "");
    EXPECT_FALSE(put(*first, std::string(100, 'a')));
    EXPECT_EQ(finish(*first).result(), http::status::created);
    auto [refused_sink, refused] = begin("alice", 60);
    EXPECT_FALSE(refused_sink);
    ASSERT_TRUE(refused);
    EXPECT_EQ(json::parse(refused->body())["error"], "quota_exceeded");
    // Without a Content-Length (chunked): refused once the bytes pass it, and nothing stays.
    auto [chunked, chunked_refusal] = begin("alice", std::nullopt);
    ASSERT_TRUE(chunked);
    EXPECT_FALSE(put(*chunked, std::string(30, 'b')));
    const std::optional<file_http_response> over = put(*chunked, std::string(30, 'c'));
    ASSERT_TRUE(over);
    EXPECT_EQ(json::parse(over->body())["error"], "quota_exceeded");
    // The refused upload's reservation went back: 50 bytes still fit.
    auto [fits, fits_refusal] = begin("alice", 50);
    ASSERT_TRUE(fits) << (fits_refusal ? fits_refusal->body() : "");
    fits->abort();
    files_->stop();
    EXPECT_EQ(partial_files(), 0U);
}

TEST_F(FileServiceTest, AnAbortedStreamedUploadLeavesNothingBehind) {
    auto [sink, refusal] = begin("bob", std::nullopt);
    ASSERT_TRUE(sink);
    EXPECT_FALSE(put(*sink, "half a file"));
    EXPECT_EQ(partial_files(), 1U);
    sink->abort();
    sink.reset();
    // The file thread has done the work queued before it stops.
    files_->stop();
    EXPECT_EQ(partial_files(), 0U);
    EXPECT_EQ(files_->counts().uploads.value(), 0U);
}

TEST_F(FileServiceTest, RefusesAFileOverTheLimitAndAnUploadOverTheQuota) {
    const file_http_response large =
        call(http::verb::post, "/files", basic("alice", "alice-pw"), std::string(101, 'x'));
    EXPECT_EQ(large.result(), http::status::payload_too_large);
    EXPECT_EQ(json::parse(large.body())["error"], "file_too_large");
    EXPECT_FALSE(upload("alice", std::string(80, 'a')).empty());
    const file_http_response over =
        call(http::verb::post, "/files", basic("alice", "alice-pw"), std::string(80, 'b'));
    EXPECT_EQ(over.result(), http::status::payload_too_large);
    EXPECT_EQ(json::parse(over.body())["error"], "quota_exceeded");
    // Another user has a quota of their own.
    EXPECT_FALSE(upload("bob", std::string(80, 'c')).empty());
    EXPECT_EQ(files_->counts().refused_quota.value(), 1U);
    EXPECT_EQ(files_->counts().refused_too_large.value(), 1U);
}

TEST_F(FileServiceTest, OthersReadAFileOnlyThroughAConversationTheyMayRead) {
    const std::string id = upload("alice", "photo");
    // Not referenced: only its owner reads it; to others it does not exist.
    EXPECT_EQ(get_status("alice", id), http::status::ok);
    EXPECT_EQ(get_status("bob", id), http::status::not_found);

    post_referencing("room/lobby", 1, id);
    EXPECT_EQ(get_status("bob", id), http::status::ok);
    // carol is no member of the lobby.
    EXPECT_EQ(get_status("carol", id), http::status::not_found);

    const std::string secret = upload("alice", "secret");
    post_referencing("dm/alice/bob", 1, secret);
    EXPECT_EQ(get_status("bob", secret), http::status::ok);
    EXPECT_EQ(get_status("carol", secret), http::status::not_found);

    // Deleting the message (op delete) takes the reference with it.
    store::history_record deletion;
    deletion.conversation = "room/lobby";
    deletion.id = 2;
    deletion.sender = "alice";
    deletion.kind = store::history_kind::deletion;
    deletion.of_id = 1;
    chat_->store().append_history(deletion);
    chat_->store().flush();
    EXPECT_EQ(get_status("bob", id), http::status::not_found);
    EXPECT_EQ(get_status("alice", id), http::status::ok);
}

TEST_F(FileServiceTest, OnlyTheOwnerDeletesAFile) {
    const std::string id = upload("alice", "mine");
    EXPECT_EQ(call(http::verb::delete_, "/files/" + id, "Bearer " + token_of("bob")).result(),
              http::status::not_found);
    EXPECT_EQ(call(http::verb::delete_, "/files/" + id, "Bearer " + token_of("alice")).result(),
              http::status::no_content);
    EXPECT_EQ(get_status("alice", id), http::status::not_found);
    files_->stop();
    EXPECT_FALSE(std::filesystem::exists(root_ / "files" / id));
    EXPECT_TRUE(chat_->store().load_files().empty());
}

TEST_F(FileServiceTest, TheSweepRemovesFilesNoMessageReferencesPastTheGrace) {
    const std::string kept = upload("alice", "kept");
    const std::string dropped = upload("alice", "dropped");
    post_referencing("room/lobby", 1, kept);
    // Within the grace period nothing goes.
    files_->sweep(unix_now_ms(), 100);
    EXPECT_EQ(get_status("alice", dropped), http::status::ok);
    files_->sweep(unix_now_ms() + 61'000, 100);
    EXPECT_EQ(get_status("alice", dropped), http::status::not_found);
    EXPECT_EQ(get_status("bob", kept), http::status::ok);
    EXPECT_EQ(files_->counts().swept.value(), 1U);
    files_->stop();
    EXPECT_FALSE(std::filesystem::exists(root_ / "files" / dropped));
    EXPECT_TRUE(std::filesystem::exists(root_ / "files" / kept));
}

TEST_F(FileServiceTest, AMessageMayReferenceOnlyItsSendersFiles) {
    const std::string id = upload("alice", "mine");
    EXPECT_FALSE(files_->reference_refusal("alice", {id}));
    EXPECT_TRUE(files_->reference_refusal("bob", {id}));
    EXPECT_TRUE(files_->reference_refusal("alice", {std::string(32, 'f')}));
}

TEST(ReferencedFileIds, ReadsTheFilesArrayOfAJsonMessage) {
    using ids = std::vector<std::string>;
    const std::string a(32, 'a');
    const std::string b(32, 'b');
    EXPECT_EQ(std::get<ids>(referenced_file_ids("plain text")), ids{});
    EXPECT_EQ(std::get<ids>(referenced_file_ids(R"({"text":"hi"})")), ids{});
    EXPECT_EQ(std::get<ids>(referenced_file_ids(R"({"text":"the \"files\" word"})")), ids{});
    EXPECT_EQ(std::get<ids>(referenced_file_ids(R"({"files":[")" + b + R"(",")" + a + R"(",")" + b +
                                                R"("]})")),
              (ids{a, b}));
    EXPECT_TRUE(std::holds_alternative<std::string>(referenced_file_ids(R"({"files":"x"})")));
    EXPECT_TRUE(std::holds_alternative<std::string>(referenced_file_ids(R"({"files":["../x"]})")));
    EXPECT_TRUE(is_file_target("/files"));
    EXPECT_TRUE(is_file_target("/files/abc?x=1"));
    EXPECT_FALSE(is_file_target("/filesx"));
    EXPECT_FALSE(is_file_target("/metrics"));
}

} // namespace
} // namespace perch::gateway
