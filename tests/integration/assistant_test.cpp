// The assistant bot end to end (docs/ASSISTANT.md): the perch binary with the bot configured
// against tests/support/model_stub.py on loopback, and chat users as Paho C++ clients. A mention
// in a room and a direct message get answers through the chat layer, the request carries the
// system prompt, the history and the API key (which appears nowhere in perch's output), streamed
// answers arrive as one message after typing signals, and every failure of the model server or
// of the bot's limits yields a short reply while the broker stays healthy.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "gateway/chat/password_hash.hpp"
#include "store/chat_store.hpp"

#include "broker_process.hpp"
#include "chat_client.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string api_key = "sk-perch-test-4f1c9e2d7b";

/// A loopback port nothing listens on (bound, then released).
std::uint16_t closed_port() {
    const int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    ::bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    ::getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(socket_fd);
    return ntohs(address.sin_port);
}

/// The stand-in model server on a free loopback port, logging every request.
class model_stub {
public:
    explicit model_stub(const std::filesystem::path& directory)
        : log_path_(directory / "model-requests.jsonl") {
        const auto port_file = directory / "model-port";
        process_ = std::make_unique<child_process>(
            std::vector<std::string>{"python3", PERCH_MODEL_STUB, "--port-file", port_file.string(),
                                     "--log", log_path_.string(), "--lifetime", "120"},
            process_streams{});
        for (int attempt = 0; attempt < 500 && !std::filesystem::exists(port_file); ++attempt) {
            std::this_thread::sleep_for(10ms);
        }
        std::ifstream(port_file) >> port_;
        if (port_ == 0) {
            throw std::runtime_error("the model stub did not start");
        }
    }

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
    std::unique_ptr<child_process> process_;
    std::uint16_t port_ = 0;
};

/// A store with users alice, bob and carol and the room lobby (alice and bob), the model stub,
/// and a broker started per test with the bot configured by start_broker().
class AssistantTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "perch's assistant only";
        }
        store::store_options options;
        options.durability = store::durability_level::batched;
        options.path = (data_.path() / "perch.db").string();
        options.commit_interval_ms = 1;
        chat_ = store::open_chat_store(options);
        for (const std::string user : {"alice", "bob", "carol"}) {
            expect_done([&](auto done) {
                chat_->add_user({user, gateway::hash_password(user + "-pw", 1), 1}, done);
            });
        }
        expect_done([&](auto done) { chat_->add_room({"lobby", "", 1}, done); });
        expect_done([&](auto done) { chat_->add_member({"lobby", "alice"}, done); });
        expect_done([&](auto done) { chat_->add_member({"lobby", "bob"}, done); });
        key_file_ = data_.path() / "model.key";
        write_file_text(key_file_, api_key + "\n");
        stub_ = std::make_unique<model_stub>(data_.path());
    }

    void TearDown() override {
        if (!broker_) {
            return;
        }
        const process_exit ending = broker_->stop();
        EXPECT_TRUE(ending.is_success()) << describe(ending);
        const std::string output = broker_->log();
        EXPECT_EQ(output.find(api_key), std::string::npos) << "the API key is in perch's output";
        if (HasFailure()) {
            std::cout << "---- broker output ----\n" << output << "-----------------------\n";
        }
    }

    /// Starts perch with the bot on the stub (or on `port`), plus `extra` config lines.
    void start_broker(const std::string& extra = "", std::uint16_t port = 0) {
        const std::string config =
            "data_dir " + data_.path().string() +
            "\ndurability batched\nchat_reload_interval_ms 50\nlog_level debug\n"
            "sys_interval 1\n"
            "assistant_endpoint http://127.0.0.1:" +
            std::to_string(port != 0 ? port : stub_->port()) +
            "/v1\n"
            "assistant_model stub-model\n"
            "assistant_api_key_file " +
            key_file_.string() +
            "\nassistant_rooms lobby, attic\n"
            "assistant_system_prompt You are the test bot.  Be brief.\n"
            "assistant_context_messages 5\n"
            "assistant_timeout_ms 1500\n"
            "assistant_user_rate 600 100\n"
            "assistant_global_rate 600 100\n"
            "password_iterations 1\n" +
            extra;
        broker_ = std::make_unique<broker_process>(broker_kind::perch, config);
    }

    /// A connected user whose view shows the bot online (so it receives what is sent next).
    std::unique_ptr<chat_client> connected(const std::string& user) {
        auto client = std::make_unique<chat_client>(*broker_, user, mqtt_5);
        client->connect(user, user + "-pw");
        const auto deadline = std::chrono::steady_clock::now() + delivery_timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto presence = client->next_on("chat/presence/assistant", 1s);
            if (presence && presence->payload.find("\"online\"") != std::string::npos) {
                return client;
            }
        }
        throw std::runtime_error("the assistant never came online for " + user);
    }

    template <typename Change> void expect_done(Change change) {
        std::mutex mutex;
        std::condition_variable finished;
        std::optional<store::directory_result> outcome;
        change([&](store::directory_result result, const store::store_status&) {
            std::lock_guard lock(mutex);
            outcome = result;
            finished.notify_all();
        });
        std::unique_lock lock(mutex);
        ASSERT_TRUE(finished.wait_for(lock, 5s, [&] { return outcome.has_value(); }));
        ASSERT_EQ(*outcome, store::directory_result::done);
    }

    /// Asks in a DM and returns the bot's reply, checking that it names the question.
    std::string ask_directly(chat_client& alice, const std::string& question) {
        alice.publish("chat/dm/assistant/alice", question);
        const auto reply = alice.next_on("chat/dm/alice/assistant");
        if (!reply) {
            ADD_FAILURE() << "no reply to " << question;
            return {};
        }
        EXPECT_TRUE(user_property(reply->properties, "reply_to")) << question;
        EXPECT_EQ(correlation_data(reply->properties),
                  user_property(reply->properties, "reply_to").value_or("?"));
        return reply->payload;
    }

    /// An ordinary room message still flows between two users.
    void expect_broker_healthy() {
        auto bob = std::make_unique<chat_client>(*broker_, "bob/check", mqtt_5);
        bob->connect("bob", "bob-pw");
        auto alice = std::make_unique<chat_client>(*broker_, "alice/check", mqtt_5);
        alice->connect("alice", "alice-pw");
        bob->publish("chat/room/lobby/bob", "still alive?");
        const auto got = alice->next_on("chat/room/lobby/bob");
        ASSERT_TRUE(got);
        EXPECT_EQ(got->payload, "still alive?");
    }

    temporary_directory data_;
    std::unique_ptr<store::chat_store> chat_;
    std::filesystem::path key_file_;
    std::unique_ptr<model_stub> stub_;
    std::unique_ptr<broker_process> broker_;
};

TEST_F(AssistantTest, AMentionInARoomIsAnsweredInTheRoomWithHistoryContext) {
    start_broker();
    auto alice = connected("alice");
    auto bob = connected("bob");
    bob->publish("chat/room/lobby/bob", "good morning");
    ASSERT_TRUE(alice->next_on("chat/room/lobby/bob"));
    alice->publish("chat/room/lobby/alice", "@assistant what is MQTT?");
    const auto question = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(question);
    const std::string question_id = user_property(question->properties, "id").value_or("");
    ASSERT_FALSE(question_id.empty());

    const auto answer = bob->next_on("chat/room/lobby/assistant");
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->payload, "echo: alice: @assistant what is MQTT?");
    EXPECT_EQ(user_property(answer->properties, "reply_to"), question_id);
    EXPECT_EQ(correlation_data(answer->properties), question_id);
    const std::string answer_id = user_property(answer->properties, "id").value_or("");
    EXPECT_FALSE(answer_id.empty());
    EXPECT_NE(answer_id, question_id);
    const auto seen_by_alice = alice->next_on("chat/room/lobby/assistant");
    ASSERT_TRUE(seen_by_alice);
    EXPECT_EQ(seen_by_alice->payload, answer->payload);

    // The answer is in history like any message.
    bob->publish("chat/ctl/bob/req",
                 json{{"op", "history"}, {"conversation", "room/lobby"}}.dump());
    const auto history = bob->next_on("chat/ctl/bob/resp");
    ASSERT_TRUE(history);
    const json page = json::parse(history->payload);
    ASSERT_TRUE(page["ok"].get<bool>()) << history->payload;
    const json& last = page["messages"].back();
    EXPECT_EQ(last["sender"], "assistant");
    EXPECT_EQ(std::to_string(last["id"].get<std::uint64_t>()), answer_id);
    EXPECT_EQ(last["payload"], answer->payload);

    // The request: system prompt first, then the room's history, with the key as bearer token.
    const auto requests = stub_->requests();
    ASSERT_EQ(requests.size(), 1U);
    const json& request = requests[0];
    EXPECT_EQ(request["path"], "/v1/chat/completions");
    EXPECT_EQ(request["headers"]["authorization"], "Bearer " + api_key);
    EXPECT_EQ(request["body"]["model"], "stub-model");
    const json& messages = request["body"]["messages"];
    ASSERT_EQ(messages.size(), 3U) << messages.dump();
    EXPECT_EQ(messages[0],
              json({{"role", "system"}, {"content", "You are the test bot.  Be brief."}}));
    EXPECT_EQ(messages[1], json({{"role", "user"}, {"content", "bob: good morning"}}));
    EXPECT_EQ(messages[2],
              json({{"role", "user"}, {"content", "alice: @assistant what is MQTT?"}}));
}

TEST_F(AssistantTest, ADirectMessageGetsADirectAnswerAndEarlierAnswersBecomeContext) {
    start_broker();
    auto alice = connected("alice");
    EXPECT_EQ(ask_directly(*alice, "hello"), "echo: alice: hello");
    EXPECT_EQ(ask_directly(*alice, "and again"), "echo: alice: and again");
    const auto requests = stub_->requests();
    ASSERT_EQ(requests.size(), 2U);
    const json& messages = requests[1]["body"]["messages"];
    ASSERT_EQ(messages.size(), 4U) << messages.dump();
    EXPECT_EQ(messages[1]["content"], "alice: hello");
    EXPECT_EQ(messages[2], json({{"role", "assistant"}, {"content", "echo: alice: hello"}}));
    EXPECT_EQ(messages[3]["content"], "alice: and again");
}

// The bot's connection is an ordinary session: when another client takes it over (an operator
// who set the bot's password and logged in as it), the bot reconnects on its own after its
// backoff, takes the session back and answers again.
TEST_F(AssistantTest, TheBotReconnectsAfterItsSessionIsTakenOver) {
    start_broker();
    auto alice = connected("alice");
    EXPECT_EQ(ask_directly(*alice, "before"), "echo: alice: before");
    expect_done([&](auto done) {
        chat_->set_password("assistant", gateway::hash_password("operator-pw", 1), done);
    });
    auto impostor = std::make_unique<chat_client>(*broker_, "assistant", mqtt_5);
    // The directory change reaches the broker within its reload interval.
    const auto deadline = std::chrono::steady_clock::now() + delivery_timeout;
    while (!impostor->is_connected()) {
        try {
            impostor->connect("assistant", "operator-pw");
        } catch (const std::exception&) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline)
                << "the new password never worked";
            std::this_thread::sleep_for(100ms);
            impostor = std::make_unique<chat_client>(*broker_, "assistant", mqtt_5);
        }
    }
    // The bot comes back and takes its session over in turn [MQTT-3.1.4-2].
    ASSERT_TRUE(impostor->wait_for_connection_lost());
    EXPECT_EQ(impostor->disconnect_reason(), mqtt::ReasonCode::SESSION_TAKEN_OVER);
    EXPECT_EQ(ask_directly(*alice, "after"), "echo: alice: after");
}

TEST_F(AssistantTest, ARoomMessageWithoutAMentionGetsNoAnswer) {
    start_broker();
    auto alice = connected("alice");
    auto bob = connected("bob");
    alice->publish("chat/room/lobby/alice", "just chatting, assistant is not called");
    alice->publish("chat/room/lobby/alice", "mail me@assistant or ask @assistant_2");
    alice->publish("chat/room/lobby/alice", "@assistant ping");
    // The first answer in the room is the one to the mention.
    const auto answer = bob->next_on("chat/room/lobby/assistant");
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->payload, "echo: alice: @assistant ping");
    EXPECT_EQ(stub_->requests().size(), 1U);
}

TEST_F(AssistantTest, AStreamedAnswerSendsTypingSignalsThenOneMessage) {
    start_broker("assistant_stream true\nassistant_typing_interval_ms 10\n");
    auto alice = connected("alice");
    alice->publish("chat/dm/assistant/alice", "tell me a story about brokers and birds");
    const auto typing = alice->next_on("chat/signal/dm/alice/assistant");
    ASSERT_TRUE(typing);
    EXPECT_EQ(json::parse(typing->payload), json({{"type", "typing"}, {"user", "assistant"}}));
    const auto answer = alice->next_on("chat/dm/alice/assistant");
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->payload, "echo: alice: tell me a story about brokers and birds");
    EXPECT_FALSE(alice->next_on("chat/dm/alice/assistant", 500ms));
    const auto requests = stub_->requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0]["body"]["stream"], true);
}

TEST_F(AssistantTest, EachModelServerFailureYieldsAShortReplyAndACounter) {
    start_broker();
    auto alice = connected("alice");
    EXPECT_EQ(ask_directly(*alice, "[[fail]] please"),
              "Sorry, the model server reported an error.");
    EXPECT_EQ(ask_directly(*alice, "[[limit]] please"),
              "Sorry, the model server is rate limiting me; please try again later.");
    EXPECT_EQ(ask_directly(*alice, "[[garbage]] please"),
              "Sorry, the model server sent an answer I cannot read.");
    EXPECT_EQ(ask_directly(*alice, "[[huge]] please"),
              "Sorry, the model's answer was too long to send.");
    EXPECT_EQ(ask_directly(*alice, "[[stall]] please"),
              "Sorry, the model server did not answer in time.");
    // The bot still answers, and the broker still carries ordinary traffic.
    EXPECT_EQ(ask_directly(*alice, "are you fine?"), "echo: alice: are you fine?");
    expect_broker_healthy();

    chat_client monitor(*broker_, "monitor", mqtt_5);
    monitor.connect_anonymous();
    monitor.subscribe("$SYS/broker/assistant/#", 1);
    for (const std::string name :
         {"failures/server_error", "failures/rate_limited", "failures/bad_answer",
          "failures/too_large", "failures/timeout"}) {
        const auto value = monitor.next_on("$SYS/broker/assistant/" + name, 5s);
        ASSERT_TRUE(value) << name;
        EXPECT_EQ(value->payload, "1") << name;
    }
}

TEST_F(AssistantTest, StreamFailuresYieldShortReplies) {
    // Time enough for the stub to stream past the size bound (its pieces are small).
    start_broker("assistant_stream true\nassistant_timeout_ms 20000\n");
    auto alice = connected("alice");
    EXPECT_EQ(ask_directly(*alice, "[[cut]] a long answer please"),
              "Sorry, the model server's answer was cut off.");
    EXPECT_EQ(ask_directly(*alice, "[[garbage]] please"),
              "Sorry, the model server sent an answer I cannot read.");
    EXPECT_EQ(ask_directly(*alice, "[[huge]] please"),
              "Sorry, the model's answer was too long to send.");
    EXPECT_EQ(ask_directly(*alice, "ok now?"), "echo: alice: ok now?");
    expect_broker_healthy();
}

TEST_F(AssistantTest, AnEndpointThatIsDownYieldsAShortReply) {
    start_broker("", closed_port());
    auto alice = connected("alice");
    EXPECT_EQ(ask_directly(*alice, "anyone there?"),
              "Sorry, I cannot reach the model server right now.");
    expect_broker_healthy();
}

TEST_F(AssistantTest, TheRateLimitAndTheConcurrencyBoundRefuseWithAShortReply) {
    start_broker("assistant_user_rate 1 1\nassistant_max_concurrent 1\n");
    auto alice = connected("alice");
    auto bob = connected("bob");
    // alice's one request stalls and holds the only slot: bob is told the bot is busy.
    alice->publish("chat/dm/assistant/alice", "[[stall]] think hard");
    std::this_thread::sleep_for(300ms);
    bob->publish("chat/dm/assistant/bob", "my turn?");
    const auto busy = bob->next_on("chat/dm/bob/assistant");
    ASSERT_TRUE(busy);
    EXPECT_EQ(busy->payload, "Sorry, I am busy with other questions; please ask again soon.");
    const auto timeout = alice->next_on("chat/dm/alice/assistant");
    ASSERT_TRUE(timeout);
    EXPECT_EQ(timeout->payload, "Sorry, the model server did not answer in time.");
    // alice used her one request of this minute.
    EXPECT_EQ(ask_directly(*alice, "again?"),
              "Sorry, too many questions right now; please wait a minute and ask again.");
    EXPECT_EQ(stub_->requests().size(), 1U);
    expect_broker_healthy();
}

TEST_F(AssistantTest, StoppingWhileTheModelIsThinkingIsPromptAndClean) {
    start_broker("assistant_timeout_ms 600000\n");
    auto alice = connected("alice");
    alice->publish("chat/dm/assistant/alice", "[[stall]] take your time");
    for (int attempt = 0; attempt < 100 && stub_->requests().empty(); ++attempt) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(stub_->requests().size(), 1U);
    // Without cancelling the call the worker would wait for its 10-minute deadline and the stop
    // would end in SIGKILL.
    const process_exit ending = broker_->stop();
    EXPECT_TRUE(ending.is_success()) << describe(ending);
    EXPECT_FALSE(ending.was_killed_at_deadline);
}

TEST_F(AssistantTest, TheBotIsAMemberOfTheConfiguredRoomsThatExist) {
    start_broker();
    auto bob = connected("bob");
    bob->publish("chat/ctl/bob/req", json{{"op", "members"}, {"room", "lobby"}}.dump());
    const auto reply = bob->next_on("chat/ctl/bob/resp");
    ASSERT_TRUE(reply);
    const json members = json::parse(reply->payload)["members"];
    EXPECT_NE(std::find(members.begin(), members.end(), "assistant"), members.end())
        << reply->payload;
    EXPECT_NE(broker_->log().find("room 'attic' does not exist"), std::string::npos);
}

} // namespace
} // namespace perch::integration
