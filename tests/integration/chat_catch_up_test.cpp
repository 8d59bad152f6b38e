// Chat messages are stored once, in history, and persistent chat sessions catch up from there
// (docs/DURABILITY.md "Chat messages"): an offline user gets every room and direct message at
// reconnect, in order and with its id, after a reconnect, a clean restart and kill -9 during chat
// traffic; and no store queue row is written for a chat message to a chat user's session.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "chat_fixture.hpp"
#include "power_cut/power_cut.hpp"
#include <sqlite3.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

class ChatCatchUp : public chat_fixture {
protected:
    /// Where power cuts keep their journal (outside the data directory).
    temporary_directory journal_;

    void expect_nothing_acknowledged_lost_across_crashes(power_cut_journal* power_cut,
                                                         const std::string& extra_config);
};

/// Every message `client` receives on `topic` until it is silent for a while, as
/// (payload, id) in arrival order.
std::vector<std::pair<std::string, std::string>>
drain(chat_client& client, const std::string& topic, std::size_t expected) {
    std::vector<std::pair<std::string, std::string>> received;
    while (received.size() < expected) {
        const auto message = client.next_on(topic, 5s);
        if (!message) {
            break;
        }
        received.emplace_back(message->payload,
                              user_property(message->properties, "id").value_or(""));
    }
    return received;
}

/// The room and direct messages `client` receives until `expected` have arrived or it is silent
/// for a while, by topic, as (payload, id) in arrival order.
std::map<std::string, std::vector<std::pair<std::string, std::string>>>
collect(chat_client& client, std::size_t expected) {
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> received;
    std::size_t count = 0;
    while (count < expected) {
        const auto message = client.next_message(5s);
        if (!message) {
            break;
        }
        if (!message->topic.starts_with("chat/room/") && !message->topic.starts_with("chat/dm/")) {
            continue;
        }
        received[message->topic].emplace_back(
            message->payload, user_property(message->properties, "id").value_or(""));
        ++count;
    }
    return received;
}

/// What `count` messages "{prefix}{n}" with ids `first_id`... look like when they arrive.
std::vector<std::pair<std::string, std::string>> expected_run(const std::string& prefix, int count,
                                                              int first_id) {
    std::vector<std::pair<std::string, std::string>> run;
    for (int index = 0; index < count; ++index) {
        run.emplace_back(prefix + std::to_string(index), std::to_string(first_id + index));
    }
    return run;
}

/// Sends `count` room messages from alice and `count` DMs from carol to bob.
void send_while_away(chat_fixture& fixture, chat_client& alice, chat_client& carol, int count,
                     const std::string& tag) {
    (void)fixture;
    for (int index = 0; index < count; ++index) {
        ASSERT_EQ(alice.publish("chat/room/lobby/alice", tag + "room" + std::to_string(index), 1),
                  mqtt::ReasonCode::SUCCESS);
        ASSERT_EQ(carol.publish("chat/dm/bob/carol", tag + "dm" + std::to_string(index), 1),
                  mqtt::ReasonCode::SUCCESS);
    }
}

TEST_F(ChatCatchUp, OfflineUserGetsEveryRoomAndDirectMessageInOrderAtReconnect) {
    connected("bob", mqtt_5, true)->disconnect();
    {
        auto alice = connected("alice", mqtt_5);
        auto carol = connected("carol", mqtt_5);
        // More than one read of history (64 rows) per conversation.
        send_while_away(*this, *alice, *carol, 150, "a");
    }
    auto bob = connected("bob", mqtt_5, true);
    const auto received = collect(*bob, 300);
    ASSERT_TRUE(received.contains("chat/room/lobby/alice"));
    ASSERT_TRUE(received.contains("chat/dm/bob/carol"));
    EXPECT_EQ(received.at("chat/room/lobby/alice"), expected_run("aroom", 150, 1));
    EXPECT_EQ(received.at("chat/dm/bob/carol"), expected_run("adm", 150, 1));
    bob->disconnect();
    bob = connected("bob", mqtt_5, true);
    EXPECT_TRUE(bob->stays_silent_on("chat/room/"));
    EXPECT_TRUE(bob->stays_silent_on("chat/dm/"));
}

TEST_F(ChatCatchUp, OfflineUserGetsEveryMessageOnceAcrossACleanRestart) {
    connected("bob", mqtt_5, true)->disconnect();
    {
        auto alice = connected("alice", mqtt_5);
        auto carol = connected("carol", mqtt_5);
        send_while_away(*this, *alice, *carol, 40, "b");
    }
    {
        auto bob = connected("bob", mqtt_5, true);
        const auto received = collect(*bob, 80);
        for (const auto& [topic, run] : received) {
            std::cout << topic << " " << run.size() << "\n";
        }
        ASSERT_TRUE(received.contains("chat/room/lobby/alice"));
        ASSERT_TRUE(received.contains("chat/dm/bob/carol"));
        EXPECT_EQ(received.at("chat/room/lobby/alice"), expected_run("broom", 40, 1));
        EXPECT_EQ(received.at("chat/dm/bob/carol"), expected_run("bdm", 40, 1));
        bob->disconnect();
    }
    {
        auto alice = connected("alice", mqtt_5);
        auto carol = connected("carol", mqtt_5);
        send_while_away(*this, *alice, *carol, 20, "c");
    }
    const process_exit ending = broker_->stop();
    ASSERT_TRUE(ending.is_success()) << describe(ending) << broker_->log();
    start_broker();
    // The cursors written when bob left (and at the clean stop) hold: only what came after.
    auto bob = connected("bob", mqtt_5, true);
    const auto received = collect(*bob, 40);
    ASSERT_TRUE(received.contains("chat/room/lobby/alice"));
    ASSERT_TRUE(received.contains("chat/dm/bob/carol"));
    EXPECT_EQ(received.at("chat/room/lobby/alice"), expected_run("croom", 20, 41));
    EXPECT_EQ(received.at("chat/dm/bob/carol"), expected_run("cdm", 20, 41));
    EXPECT_TRUE(bob->stays_silent_on("chat/room/"));
    EXPECT_TRUE(bob->stays_silent_on("chat/dm/"));
}

TEST_F(ChatCatchUp, ChatMessagesWriteNoQueueRowsWhileOtherTopicsDo) {
    {
        auto bob = connected("bob", mqtt_5, true);
        ASSERT_EQ(bob->subscribe("news/#", 1)[0], mqtt::ReasonCode::GRANTED_QOS_1);
        bob->disconnect();
    }
    {
        auto alice = connected("alice", mqtt_5);
        auto carol = connected("carol", mqtt_5);
        send_while_away(*this, *alice, *carol, 5, "d");
        ASSERT_EQ(alice->publish("news/today", "not chat", 1), mqtt::ReasonCode::SUCCESS);
    }
    const process_exit ending = broker_->stop();
    ASSERT_TRUE(ending.is_success()) << describe(ending) << broker_->log();
    broker_.reset();
    chat_.reset();
    sqlite3* database = nullptr;
    ASSERT_EQ(sqlite3_open((data_.path() / "perch.db").string().c_str(), &database), SQLITE_OK);
    const auto count = [database](const char* sql) {
        sqlite3_stmt* statement = nullptr;
        EXPECT_EQ(sqlite3_prepare_v2(database, sql, -1, &statement, nullptr), SQLITE_OK);
        EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
        const auto value = sqlite3_column_int64(statement, 0);
        sqlite3_finalize(statement);
        return value;
    };
    EXPECT_EQ(count("SELECT count(*) FROM queue JOIN messages USING (message_id) "
                    "WHERE topic LIKE 'chat/%'"),
              0);
    EXPECT_EQ(count("SELECT count(*) FROM messages WHERE topic LIKE 'chat/%'"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM queue JOIN messages USING (message_id) "
                    "WHERE topic = 'news/today' AND client_id = 'bob'"),
              1);
    EXPECT_EQ(count("SELECT count(*) FROM chat_history"), 10);
    sqlite3_close(database);
    // The broker, restarted, still delivers both kinds.
    start_broker();
    auto bob = connected("bob", mqtt_5, true);
    const auto news = bob->next_on("news/today");
    ASSERT_TRUE(news);
    EXPECT_EQ(drain(*bob, "chat/dm/bob/carol", 5), expected_run("ddm", 5, 1));
}

/// kill -9 (and, with `power_cut`, a roll-back of every file to its last fsync) `rounds` times
/// while alice publishes to the room, carol sends DMs and bob, connected, reads: every message
/// acknowledged to its sender must reach bob, then or after the restarts (duplicates allowed:
/// QoS 1, deduplicated by id). `extra_config` is added to each start.
void ChatCatchUp::expect_nothing_acknowledged_lost_across_crashes(power_cut_journal* power_cut,
                                                                  const std::string& extra_config) {
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> pause_ms(200, 700);
    std::mutex mutex;
    std::set<std::string> acknowledged;
    std::set<std::string> received;
    // Per topic (one conversation each here), the payloads delivered with each id. Ids keep
    // increasing across kills (start-up takes them from history): no id names two acknowledged
    // messages. (A message delivered but not committed before a kill may lose its id to a later
    // one: its sender was never told it was received.)
    std::map<std::string, std::map<std::string, std::set<std::string>>> payloads_of_id;
    const auto record = [&](const received_message& message) {
        if (!message.topic.starts_with("chat/room/") && !message.topic.starts_with("chat/dm/")) {
            return;
        }
        received.insert(message.payload);
        const std::string id = user_property(message.properties, "id").value_or("");
        payloads_of_id[message.topic][id].insert(message.payload);
    };
    const auto take = [&record](chat_client& client) {
        while (const auto message = client.next_message(0ms)) {
            record(*message);
        }
    };
    // Publishes until the broker goes away, recording what was acknowledged.
    const auto publish_until_killed = [&](chat_client& client, const std::string& topic,
                                          const std::string& prefix) {
        for (int index = 0;; ++index) {
            const std::string payload = prefix + std::to_string(index);
            try {
                // The token completes only with the PUBACK.
                const auto token = client.publish_async(topic, payload, 1);
                if (!token->wait_for(5s) || token->get_return_code() != 0 ||
                    token->get_reason_code() != mqtt::ReasonCode::SUCCESS) {
                    return;
                }
            } catch (const std::exception&) {
                return;
            }
            std::lock_guard lock(mutex);
            acknowledged.insert(payload);
        }
    };
    connected("bob", mqtt_5, true)->disconnect();
    constexpr int rounds = 4;
    std::size_t writes_undone = 0;
    for (int round = 0; round < rounds; ++round) {
        {
            auto bob = connected("bob", mqtt_5, true);
            auto alice = connected("alice", mqtt_5);
            auto carol = connected("carol", mqtt_5);
            const std::string tag = std::to_string(round) + "-";
            std::thread room(
                [&] { publish_until_killed(*alice, "chat/room/lobby/alice", "room" + tag); });
            std::thread direct(
                [&] { publish_until_killed(*carol, "chat/dm/bob/carol", "dm" + tag); });
            std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
            const process_exit ending = broker_->kill();
            EXPECT_EQ(ending.signal_number, 9) << describe(ending);
            if (power_cut != nullptr) {
                writes_undone += power_cut->cut().writes_undone;
            }
            room.join();
            direct.join();
            take(*bob);
        }
        start_broker(extra_config);
    }
    auto bob = connected("bob", mqtt_5, true);
    for (;;) {
        const auto message = bob->next_message(3s);
        if (!message) {
            break;
        }
        record(*message);
    }
    std::size_t lost = 0;
    for (const std::string& payload : acknowledged) {
        if (!received.contains(payload)) {
            ADD_FAILURE() << "acknowledged " << payload << " never reached bob";
            if (++lost > 10) {
                break;
            }
        }
    }
    for (const auto& [topic, ids] : payloads_of_id) {
        for (const auto& [id, payloads] : ids) {
            const auto named = std::count_if(payloads.begin(), payloads.end(),
                                             [&acknowledged](const std::string& payload) {
                                                 return acknowledged.contains(payload);
                                             });
            EXPECT_LE(named, 1) << "id " << id << " of " << topic << " names two messages";
        }
    }
    std::cout << "chat " << (power_cut != nullptr ? "power cuts" : "kills") << ": acknowledged "
              << acknowledged.size() << ", received " << received.size();
    if (power_cut != nullptr) {
        std::cout << ", writes taken back " << writes_undone;
    }
    std::cout << "\n";
    EXPECT_GT(acknowledged.size(), 0U);
}

TEST_F(ChatCatchUp, AcknowledgedMessagesReachAPersistentMemberAcrossKills) {
    expect_nothing_acknowledged_lost_across_crashes(nullptr, "");
}

// The same with power cuts at `durability full`: every file is rolled back to its last fsync
// after each kill (tests/integration/power_cut), and a chat message is acknowledged only once
// the commit holding its history row is synced (docs/DURABILITY.md "Chat messages").
TEST_F(ChatCatchUp, AcknowledgedMessagesReachAPersistentMemberAcrossPowerCuts) {
    broker_->stop();
    power_cut_journal power_cut(data_.path(), journal_.path());
    broker_environment_ = power_cut.environment();
    start_broker("durability full\n");
    expect_nothing_acknowledged_lost_across_crashes(&power_cut, "durability full\n");
    broker_->stop();
    broker_environment_.clear();
}

} // namespace
} // namespace perch::integration
