// The durability contract at store level: a child process enqueues as fast as it can and reports
// each completion through a pipe; it is killed with SIGKILL mid-stream. Every message whose
// completion fired must be in the reopened store, in order. The same for the chat store's history,
// whose catch-up cursors must never pass a history row that did not survive, and whose search
// index must catch up with it.
#include <cstdint>
#include <future>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"
#include "store/message_store.hpp"
#include "store/sqlite/database.hpp"

#include "store_test_support.hpp"
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

namespace perch::store {
namespace {

using namespace testing_support;

/// Runs in the child: enqueues numbered messages forever, writing each number to `report_fd`
/// once its completion reports it durable. Never returns.
[[noreturn]] void enqueue_until_killed(const store_options& options, int report_fd) {
    try {
        auto store = open_message_store(options);
        store->save_session(make_session("alice"));
        for (std::uint64_t number = 0;; ++number) {
            store->enqueue({target("alice")}, make_message("t", std::to_string(number)),
                           [report_fd, number](const store_status& status) {
                               if (status.is_ok()) {
                                   [[maybe_unused]] const auto written =
                                       ::write(report_fd, &number, sizeof number);
                               }
                           });
            if (number % 512 == 511) {
                // Keeps the child's memory bounded; the kill still lands between commits.
                store->flush();
            }
        }
    } catch (...) {
        ::_exit(2);
    }
}

/// Runs `writer(options, report_fd)` in a child process, which reports each number whose write
/// completed; kills the child with SIGKILL once 3,000 are reported, and returns every number
/// reported before the kill (the ones still in the pipe included).
std::set<std::uint64_t> confirmed_before_kill(const store_options& options,
                                              void (*writer)(const store_options&, int)) {
    std::set<std::uint64_t> confirmed;
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) {
        ADD_FAILURE() << "pipe failed";
        return confirmed;
    }
    const pid_t child = ::fork();
    if (child < 0) {
        ADD_FAILURE() << "fork failed";
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        return confirmed;
    }
    if (child == 0) {
        ::close(pipe_fds[0]);
        writer(options, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    std::uint64_t number = 0;
    while (confirmed.size() < 3000 &&
           ::read(pipe_fds[0], &number, sizeof number) == static_cast<ssize_t>(sizeof number)) {
        confirmed.insert(number);
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child died early";
    // Completions that fired before the kill are still in the pipe.
    while (::read(pipe_fds[0], &number, sizeof number) == static_cast<ssize_t>(sizeof number)) {
        confirmed.insert(number);
    }
    ::close(pipe_fds[0]);
    return confirmed;
}

class StoreCrash : public ::testing::TestWithParam<durability_level> {};

TEST_P(StoreCrash, EveryCompletedEnqueueSurvivesKill) {
    temporary_database file;
    store_options options;
    options.path = file.path();
    options.durability = GetParam();
    options.commit_interval_ms = 2;

    const std::set<std::uint64_t> confirmed = confirmed_before_kill(options, enqueue_until_killed);
    ASSERT_GE(confirmed.size(), 3000u);

    auto store = open_message_store(options);
    const loaded_state state = store->load(0);
    ASSERT_EQ(state.sessions.size(), 1u);
    std::set<std::uint64_t> durable;
    std::uint64_t previous = 0;
    bool is_first = true;
    for (const auto& loaded : state.sessions[0].queue) {
        const std::string text(loaded.message->payload.begin(), loaded.message->payload.end());
        const std::uint64_t value = std::stoull(text);
        EXPECT_TRUE(is_first || value > previous) << "queue out of order at " << value;
        previous = value;
        is_first = false;
        durable.insert(value);
    }
    for (const std::uint64_t value : confirmed) {
        ASSERT_TRUE(durable.contains(value)) << "acknowledged message " << value << " was lost";
    }
}

/// Runs in the child: appends numbered history rows forever, writing each id to `report_fd` once
/// its completion reports it durable, and submits a cursor at each tenth id right after its row
/// (as a session that acknowledged it would). Never returns.
[[noreturn]] void append_history_until_killed(const store_options& options, int report_fd) {
    try {
        auto store = open_chat_store(options);
        for (std::uint64_t id = 1;; ++id) {
            const std::string text = std::to_string(id);
            store->append_history({"room/lobby", id, "alice", "chat/room/lobby/alice", id,
                                   byte_vector(text.begin(), text.end())},
                                  [report_fd, id](const store_status& status) {
                                      if (status.is_ok()) {
                                          [[maybe_unused]] const auto written =
                                              ::write(report_fd, &id, sizeof id);
                                      }
                                  });
            if (id % 10 == 0) {
                store->save_session_cursors({"bob", id, {{"room/lobby", id}}});
            }
            if (id % 512 == 511) {
                store->flush();
            }
        }
    } catch (...) {
        ::_exit(2);
    }
}

TEST_P(StoreCrash, CompletedHistorySurvivesKillAndNoCursorPassesIt) {
    temporary_database file;
    store_options options;
    options.path = file.path();
    options.durability = GetParam();
    options.commit_interval_ms = 2;

    const std::set<std::uint64_t> confirmed =
        confirmed_before_kill(options, append_history_until_killed);
    ASSERT_GE(confirmed.size(), 3000u);

    auto store = open_chat_store(options);
    const std::vector<conversation_head> heads = store->conversation_heads();
    ASSERT_EQ(heads.size(), 1u);
    EXPECT_GE(heads[0].last_id, *confirmed.rbegin()) << "acknowledged history was lost";
    const std::vector<session_cursors_record> cursors = store->load_session_cursors();
    ASSERT_EQ(cursors.size(), 1u);
    ASSERT_EQ(cursors[0].cursors.size(), 1u);
    // A cursor is committed with or after the rows below it: never above the surviving head.
    EXPECT_LE(cursors[0].cursors[0].id, heads[0].last_id);
    EXPECT_GT(cursors[0].cursors[0].id, 0u);
}

/// Runs in the child: appends history rows whose text is the word "n" followed by their id,
/// forever, reporting each id once its completion fired. The search index is left to batches of
/// 700 rows, so the kill leaves rows above the watermark. Never returns.
[[noreturn]] void append_words_until_killed(const store_options& options, int report_fd) {
    try {
        auto store = open_chat_store(options);
        for (std::uint64_t id = 1;; ++id) {
            const std::string text = "n" + std::to_string(id);
            store->append_history({"room/lobby", id, "alice", "chat/room/lobby/alice", id,
                                   byte_vector(text.begin(), text.end())},
                                  [report_fd, id](const store_status& status) {
                                      if (status.is_ok()) {
                                          [[maybe_unused]] const auto written =
                                              ::write(report_fd, &id, sizeof id);
                                      }
                                  });
            if (id % 512 == 511) {
                store->flush();
            }
        }
    } catch (...) {
        ::_exit(2);
    }
}

/// The first page of the search for `word` in room/lobby.
std::vector<search_hit> search_lobby(chat_store& store, const std::string& word) {
    search_request request;
    request.terms = {{word, false}};
    request.scopes = {{"room/lobby", 0}};
    std::promise<std::vector<search_hit>> hits;
    store.search_history(std::move(request),
                         [&](std::vector<search_hit> found, const store_status& status) {
                             EXPECT_TRUE(status.is_ok()) << status.detail;
                             hits.set_value(std::move(found));
                         });
    return hits.get_future().get();
}

// History is searched in batches (docs/DECISIONS.md "Search index in batches"): a kill between two
// batches loses no acknowledged message to search either. The reopened store indexes what the
// last batch had not reached before anything else.
TEST_P(StoreCrash, AcknowledgedHistoryIsSearchableAfterKillAndIndexedAtOpen) {
    temporary_database file;
    store_options options;
    options.path = "file:" + file.path() + "?search_index_batch=700";
    options.durability = GetParam();
    options.commit_interval_ms = 2;

    const std::set<std::uint64_t> confirmed =
        confirmed_before_kill(options, append_words_until_killed);
    ASSERT_GE(confirmed.size(), 3000u);

    auto store = open_chat_store(options);
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
        EXPECT_EQ(connection.query_integer("SELECT indexed_upto FROM chat_search_state"),
                  connection.query_integer("SELECT max(rowid) FROM chat_history"));
        EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_search_docsize"),
                  connection.query_integer("SELECT count(*) FROM chat_history"));
        connection.execute(
            "INSERT INTO chat_search (chat_search, rank) VALUES ('integrity-check', 0)");
    }
    const std::uint64_t middle =
        *std::next(confirmed.begin(), static_cast<std::ptrdiff_t>(confirmed.size() / 2));
    for (const std::uint64_t id : {*confirmed.begin(), middle, *confirmed.rbegin()}) {
        const std::vector<search_hit> hits = search_lobby(*store, "n" + std::to_string(id));
        ASSERT_EQ(hits.size(), 1u) << "acknowledged message " << id << " is not found";
        EXPECT_EQ(hits[0].message.id, id);
    }
}

INSTANTIATE_TEST_SUITE_P(Durability, StoreCrash,
                         ::testing::Values(durability_level::full, durability_level::batched),
                         [](const auto& info) {
                             return info.param == durability_level::full ? std::string("Full")
                                                                         : std::string("Batched");
                         });

} // namespace
} // namespace perch::store
