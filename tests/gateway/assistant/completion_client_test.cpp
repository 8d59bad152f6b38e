// Tests of one chat completions call against tests/support/model_stub.py on loopback, over HTTP
// and HTTPS, plain and streamed, and every way the server can fail.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "gateway/assistant/completion_client.hpp"
#include "gateway/stream/tls_context.hpp"

#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace perch::gateway::assistant {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// The stand-in model server as a child process, killed when the object goes.
class model_stub {
public:
    explicit model_stub(const std::filesystem::path& directory,
                        std::optional<certificate_files> tls = std::nullopt)
        : log_path_(directory / "requests.jsonl") {
        const auto port_file = directory / "port";
        std::vector<std::string> args{
            "/usr/bin/python3", PERCH_MODEL_STUB, "--port-file", port_file.string(), "--log",
            log_path_.string(), "--lifetime",     "60"};
        if (tls) {
            args.insert(args.end(),
                        {"--tls", tls->certificate_path.string(), tls->key_path.string()});
        }
        std::vector<char*> argv;
        for (std::string& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
            pid_ = -1;
            return;
        }
        for (int attempt = 0; attempt < 500 && !std::filesystem::exists(port_file); ++attempt) {
            std::this_thread::sleep_for(10ms);
        }
        std::ifstream(port_file) >> port_;
    }
    ~model_stub() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    model_stub(const model_stub&) = delete;
    model_stub& operator=(const model_stub&) = delete;

    std::uint16_t port() const { return port_; }

    /// Every request the stub received, in order.
    std::vector<json> requests() const {
        std::vector<json> found;
        std::ifstream log(log_path_);
        std::string line;
        while (std::getline(log, line)) {
            found.push_back(json::parse(line));
        }
        return found;
    }

private:
    std::filesystem::path log_path_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
};

class CompletionClient : public ::testing::Test {
protected:
    void SetUp() override {
        directory_ = std::filesystem::temp_directory_path() /
                     ("perch-completion-" + std::to_string(::getpid()) + "-" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(directory_);
        std::filesystem::create_directories(directory_);
    }
    void TearDown() override { std::filesystem::remove_all(directory_); }

    completion_call_options options_for(std::uint16_t port, std::string_view user_text,
                                        bool is_streamed, std::string host = "127.0.0.1",
                                        bool is_tls = false) {
        completion_call_options options;
        options.url.host = std::move(host);
        options.url.port = port;
        options.url.is_tls = is_tls;
        options.url.base_path = "/v1";
        options.api_key = "sk-test-key";
        options.is_streamed = is_streamed;
        options.timeout = 10s;
        const std::vector<chat_turn> turns{{chat_role::system, "be brief"},
                                           {chat_role::user, std::string(user_text)}};
        options.body =
            build_completion_request({"stub-model", 64, std::nullopt}, turns, is_streamed);
        return options;
    }

    /// Runs one call to its end; progress reports are collected.
    completion_result call(completion_call_options options,
                           const client::tls_client_context* tls = nullptr) {
        boost::asio::io_context context;
        std::optional<completion_result> outcome;
        start_completion_call(
            context.get_executor(), tls, std::move(options),
            [this](const std::string& partial) { progress_.push_back(partial); },
            [&outcome](completion_result result) { outcome = std::move(result); });
        context.run_for(30s);
        EXPECT_TRUE(outcome.has_value());
        return outcome.value_or(completion_failure{"no outcome"});
    }

    std::filesystem::path directory_;
    std::vector<std::string> progress_;
};

std::string answer_of(const completion_result& result) {
    if (const auto* text = std::get_if<std::string>(&result)) {
        return *text;
    }
    return "FAILURE: " + std::get<completion_failure>(result).message;
}

std::string failure_of(const completion_result& result) {
    if (const auto* failure = std::get_if<completion_failure>(&result)) {
        return failure->message;
    }
    return "ANSWER: " + std::get<std::string>(result);
}

TEST_F(CompletionClient, PlainCallSendsTheRequestAndReadsTheAnswer) {
    model_stub stub(directory_);
    ASSERT_NE(stub.port(), 0);
    EXPECT_EQ(answer_of(call(options_for(stub.port(), "hello there", false))), "echo: hello there");
    const auto requests = stub.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0]["path"], "/v1/chat/completions");
    EXPECT_EQ(requests[0]["headers"]["authorization"], "Bearer sk-test-key");
    EXPECT_EQ(requests[0]["body"]["model"], "stub-model");
    EXPECT_EQ(requests[0]["body"]["messages"][0]["content"], "be brief");
    EXPECT_TRUE(progress_.empty());
}

TEST_F(CompletionClient, StreamedCallIsAssembledWithProgressReports) {
    model_stub stub(directory_);
    const std::string text = "a streamed answer that spans several chunks";
    EXPECT_EQ(answer_of(call(options_for(stub.port(), text, true))), "echo: " + text);
    ASSERT_FALSE(progress_.empty());
    EXPECT_EQ(std::string("echo: " + text).rfind(progress_.front(), 0), 0U);
    EXPECT_EQ(stub.requests().at(0)["headers"]["accept"], "text/event-stream");
}

// The generated certificate names 127.0.0.1, which the client checks against its IP address
// entry; "localhost" would need a hosts file, which a minimal machine may lack.
TEST_F(CompletionClient, HttpsWithTheServersCertificateTrusted) {
    const certificate_files server = ensure_self_signed_certificate(directory_ / "server");
    model_stub stub(directory_, server);
    client::tls_client_context tls({server.certificate_path.string(), true});
    EXPECT_EQ(answer_of(call(options_for(stub.port(), "over tls", true, "127.0.0.1", true), &tls)),
              "echo: over tls");
    EXPECT_EQ(
        answer_of(call(options_for(stub.port(), "plain over tls", false, "127.0.0.1", true), &tls)),
        "echo: plain over tls");
}

TEST_F(CompletionClient, HttpsWithAnUntrustedCertificateFails) {
    const certificate_files server = ensure_self_signed_certificate(directory_ / "server");
    const certificate_files other = ensure_self_signed_certificate(directory_ / "other");
    model_stub stub(directory_, server);
    client::tls_client_context tls({other.certificate_path.string(), true});
    const std::string failure =
        failure_of(call(options_for(stub.port(), "x", false, "127.0.0.1", true), &tls));
    EXPECT_NE(failure.find("TLS with the model server failed"), std::string::npos) << failure;
    EXPECT_TRUE(stub.requests().empty());
}

TEST_F(CompletionClient, ErrorStatusesAreReportedWithTheServersMessage) {
    model_stub stub(directory_);
    EXPECT_EQ(failure_of(call(options_for(stub.port(), "[[fail]]", false))),
              "the model server answered HTTP 500: the model crashed");
    EXPECT_EQ(failure_of(call(options_for(stub.port(), "[[limit]]", true))),
              "the model server answered HTTP 429: Rate limit reached");
}

TEST_F(CompletionClient, GarbageIsAFailureInBothModes) {
    model_stub stub(directory_);
    EXPECT_EQ(failure_of(call(options_for(stub.port(), "[[garbage]]", false))),
              "the model server's answer is not JSON");
    EXPECT_EQ(failure_of(call(options_for(stub.port(), "[[garbage]]", true))),
              "the model server sent a chunk that is not JSON");
}

TEST_F(CompletionClient, AStreamCutShortIsAFailure) {
    model_stub stub(directory_);
    EXPECT_EQ(failure_of(call(options_for(stub.port(), "[[cut]] one two three", true))),
              "the model server's stream ended before the answer was complete");
}

TEST_F(CompletionClient, AStalledServerTimesOut) {
    model_stub stub(directory_);
    auto options = options_for(stub.port(), "[[stall]]", true);
    options.timeout = 1s;
    EXPECT_EQ(failure_of(call(options)), "the model server did not answer within 1 s");
}

TEST_F(CompletionClient, OversizedAnswersAreRefused) {
    model_stub stub(directory_);
    auto plain = options_for(stub.port(), "[[huge]]", false);
    plain.max_response_bytes = 64 * 1024;
    EXPECT_EQ(failure_of(call(plain)), "the model server's answer is too large");
    auto streamed = options_for(stub.port(), "[[huge]]", true);
    streamed.max_response_bytes = 64 * 1024;
    EXPECT_EQ(failure_of(call(streamed)), "the model's answer is longer than the configured limit");
}

TEST_F(CompletionClient, NobodyListeningIsAFailure) {
    std::uint16_t port = 0;
    {
        model_stub stub(directory_);
        port = stub.port();
    }
    const std::string failure = failure_of(call(options_for(port, "x", false)));
    EXPECT_NE(failure.find("cannot connect to the model server"), std::string::npos) << failure;
    EXPECT_EQ(failure.find("sk-test-key"), std::string::npos);
}

TEST_F(CompletionClient, FailuresAreClassifiedByKind) {
    model_stub stub(directory_);
    std::filesystem::create_directories(directory_ / "gone");
    const auto kind_of = [this](completion_call_options options) {
        const completion_result result = call(std::move(options));
        const auto* failure = std::get_if<completion_failure>(&result);
        EXPECT_NE(failure, nullptr);
        return failure != nullptr ? failure->kind : failure_kind::bad_answer;
    };
    EXPECT_EQ(kind_of(options_for(stub.port(), "[[fail]]", false)), failure_kind::server_error);
    EXPECT_EQ(kind_of(options_for(stub.port(), "[[limit]]", false)), failure_kind::rate_limited);
    EXPECT_EQ(kind_of(options_for(stub.port(), "[[garbage]]", false)), failure_kind::bad_answer);
    EXPECT_EQ(kind_of(options_for(stub.port(), "[[garbage]]", true)), failure_kind::bad_answer);
    EXPECT_EQ(kind_of(options_for(stub.port(), "[[cut]] a b c d", true)), failure_kind::incomplete);
    auto plain = options_for(stub.port(), "[[huge]]", false);
    plain.max_response_bytes = 64 * 1024;
    EXPECT_EQ(kind_of(plain), failure_kind::too_large);
    auto streamed = options_for(stub.port(), "[[huge]]", true);
    streamed.max_response_bytes = 64 * 1024;
    EXPECT_EQ(kind_of(streamed), failure_kind::too_large);
    auto stalled = options_for(stub.port(), "[[stall]]", false);
    stalled.timeout = 500ms;
    EXPECT_EQ(kind_of(stalled), failure_kind::timeout);
    std::uint16_t closed_port = 0;
    {
        model_stub gone(directory_ / "gone");
        closed_port = gone.port();
    }
    EXPECT_EQ(kind_of(options_for(closed_port, "x", false)), failure_kind::unreachable);
}

} // namespace
} // namespace perch::gateway::assistant
