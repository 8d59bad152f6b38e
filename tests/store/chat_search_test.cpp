// Full-text search of chat history (docs/CHAT.md "Search") on every chat store: every term
// required, newest first and pages, scopes and their floors, edits, deletes and retention; then
// what only the SQLite index shows: the index turned off and on, the migration of a version 10
// database, and an index that holds no copy of the text.
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/schema.hpp"

#include "postgres_backend.hpp"
#include "store_test_support.hpp"
#include <sqlite3.h>

namespace perch::store {
namespace {

using namespace testing_support;

struct sqlite_backend {
    static std::unique_ptr<chat_store> open(store_options options) {
        options.durability = durability_level::full;
        return open_chat_store(options);
    }
};

// The SQLite store indexes history in batches (docs/DECISIONS.md "Search index in batches"): with
// the default batch, everything these tests write stays above the watermark and is searched
// directly; with batches of one row (the database URI's search_index_batch), everything is
// indexed at each group commit; with batches of three, pages span both.
template <int Batch> struct sqlite_batch_backend {
    static std::unique_ptr<chat_store> open(store_options options) {
        options.durability = durability_level::full;
        options.path = "file:" + options.path + "?search_index_batch=" + std::to_string(Batch);
        return open_chat_store(options);
    }
};

struct memory_backend {
    static std::unique_ptr<chat_store> open(store_options options) {
        options.durability = durability_level::none;
        return open_chat_store(options);
    }
};

history_record message(std::string conversation, std::uint64_t id, std::string text,
                       std::uint64_t ts_unix_ms = 1'000) {
    history_record record{conversation,           id,         "alice",
                          "chat/" + conversation, ts_unix_ms, bytes_of(text)};
    return record;
}

history_record event(std::string conversation, std::uint64_t id, history_kind kind,
                     std::uint64_t of_id, std::string change = {}) {
    history_record record = message(std::move(conversation), id, "{\"type\":\"event\"}", 2'000);
    record.kind = kind;
    record.of_id = of_id;
    record.change = std::move(change);
    return record;
}

std::vector<search_term> words(std::initializer_list<std::string> list) {
    std::vector<search_term> terms;
    for (const std::string& word : list) {
        if (word.ends_with('*')) {
            terms.push_back({word.substr(0, word.size() - 1), true});
        } else {
            terms.push_back({word, false});
        }
    }
    return terms;
}

/// "conversation/id" of each hit, in order.
std::vector<std::string> keys_of(const std::vector<search_hit>& hits) {
    std::vector<std::string> keys;
    for (const search_hit& hit : hits) {
        keys.push_back(hit.message.conversation + "#" + std::to_string(hit.message.id));
    }
    return keys;
}

struct search_outcome {
    std::vector<search_hit> hits;
    store_status status;
};

search_outcome run_search(chat_store& store, search_request request) {
    std::promise<search_outcome> outcome;
    store.search_history(std::move(request),
                         [&](std::vector<search_hit> hits, const store_status& status) {
                             outcome.set_value({std::move(hits), status});
                         });
    return outcome.get_future().get();
}

template <typename Backend> class ChatSearch : public ::testing::Test {
protected:
    ChatSearch() {
        options_.path = database_.path();
        options_.commit_interval_ms = 1;
    }
    void SetUp() override {
        if (const std::string reason = backend_skip_reason<Backend>(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        store_ = Backend::open(options_);
    }

    chat_store& store() { return *store_; }

    /// The hits of `terms` in `scopes` (every conversation written to when empty).
    std::vector<search_hit> search(std::vector<search_term> terms,
                                   std::vector<search_scope> scopes = {}, std::size_t offset = 0,
                                   std::size_t limit = 20) {
        if (scopes.empty()) {
            scopes = {{"room/kitchen", 0}, {"room/garden", 0}, {"dm/alice/bob", 0}};
        }
        search_request request;
        request.terms = std::move(terms);
        request.scopes = std::move(scopes);
        request.offset = offset;
        request.limit = limit;
        search_outcome outcome = run_search(store(), std::move(request));
        EXPECT_TRUE(outcome.status.is_ok()) << outcome.status.detail;
        return std::move(outcome.hits);
    }

    temporary_database database_;
    store_options options_;
    std::unique_ptr<chat_store> store_;
};

using backends = ::testing::Types<sqlite_backend, sqlite_batch_backend<1>, sqlite_batch_backend<3>,
                                  memory_backend, postgres_backend>;
TYPED_TEST_SUITE(ChatSearch, backends);

TYPED_TEST(ChatSearch, FindsTheMessagesHoldingEveryTermWithoutCase) {
    this->store().append_history(message("room/kitchen", 1, "The quick brown fox"));
    this->store().append_history(message("room/kitchen", 2, "a brown dog"));
    this->store().append_history(message("room/garden", 1, "FOX and brown hens"));
    this->store().append_history(message("dm/alice/bob", 1, "nothing to see"));
    const auto hits = this->search(words({"brown", "fox"}));
    std::vector<std::string> keys = keys_of(hits);
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"room/garden#1", "room/kitchen#1"}));
    EXPECT_TRUE(this->search(words({"cat"})).empty());
    ASSERT_EQ(this->search(words({"Quick"})).size(), 1U);
    const search_hit hit = this->search(words({"quick"}))[0];
    EXPECT_EQ(hit.message.sender, "alice");
    EXPECT_EQ(hit.message.payload, bytes_of("The quick brown fox"));
    EXPECT_EQ(hit.snippet, "The **quick** brown fox");
}

TYPED_TEST(ChatSearch, APrefixTermMatchesTheWordsItBegins) {
    this->store().append_history(message("room/kitchen", 1, "searching for words"));
    this->store().append_history(message("room/kitchen", 2, "the search index"));
    this->store().append_history(message("room/kitchen", 3, "research"));
    EXPECT_EQ(this->search(words({"search"})).size(), 1U);
    EXPECT_EQ(this->search(words({"search*"})).size(), 2U);
}

// Newest first, whatever the relevance ("apple apple apple" would rank first by bm25); pages
// follow that order.
TYPED_TEST(ChatSearch, OrdersNewestFirstAndPages) {
    this->store().append_history(
        message("room/kitchen", 1, "apple pie with cream and sugar on the top", 1'000));
    this->store().append_history(message("room/kitchen", 2, "apple apple apple", 1'001));
    this->store().append_history(message("room/kitchen", 3, "apple tart", 1'002));
    this->store().append_history(message("room/garden", 1, "apple tart", 1'003));
    for (std::uint64_t id = 4; id < 10; ++id) {
        this->store().append_history(message("room/kitchen", id, "pears only", 1'000 + id));
    }
    const std::vector<std::string> newest_first{"room/garden#1", "room/kitchen#3", "room/kitchen#2",
                                                "room/kitchen#1"};
    EXPECT_EQ(keys_of(this->search(words({"apple"}))), newest_first);
    const auto first = this->search(words({"apple"}), {}, 0, 2);
    const auto second = this->search(words({"apple"}), {}, 2, 2);
    const auto beyond = this->search(words({"apple"}), {}, 4, 2);
    EXPECT_EQ(keys_of(first), (std::vector<std::string>{newest_first[0], newest_first[1]}));
    EXPECT_EQ(keys_of(second), (std::vector<std::string>{newest_first[2], newest_first[3]}));
    EXPECT_TRUE(beyond.empty());
}

// A scope's matches are found however many newer matches lie outside it, and pages of a scope
// hold only its messages, each once, newest first.
TYPED_TEST(ChatSearch, PagesOfAScopeSkipTheNewerMatchesOutsideIt) {
    std::uint64_t ts = 1'000;
    std::vector<std::string> expected;
    for (std::uint64_t id = 1; id <= 5; ++id) {
        this->store().append_history(message("room/kitchen", id, "kettle on", ++ts));
        expected.insert(expected.begin(), "room/kitchen#" + std::to_string(id));
        for (std::uint64_t other = 1; other <= 30; ++other) {
            this->store().append_history(
                message("room/garden", id * 100 + other, "kettle elsewhere", ++ts));
        }
    }
    std::vector<std::string> paged;
    for (std::size_t offset = 0; offset < 6; offset += 2) {
        for (const std::string& key :
             keys_of(this->search(words({"kettle"}), {{"room/kitchen", 0}}, offset, 2))) {
            paged.push_back(key);
        }
    }
    EXPECT_EQ(paged, expected);
    // Two conversations in scope, one with a floor: its older messages stay out.
    const auto both =
        this->search(words({"kettle", "on"}), {{"room/kitchen", 3}, {"room/garden", 0}}, 0, 50);
    EXPECT_EQ(keys_of(both), (std::vector<std::string>{"room/kitchen#5", "room/kitchen#4"}));
}

TYPED_TEST(ChatSearch, LooksOnlyIntoItsScopesAboveTheirFloors) {
    this->store().append_history(message("room/kitchen", 1, "secret plan"));
    this->store().append_history(message("room/kitchen", 2, "secret party"));
    this->store().append_history(message("room/attic", 1, "secret attic"));
    this->store().append_history(message("dm/bob/carol", 1, "secret gift"));
    EXPECT_EQ(keys_of(this->search(words({"secret", "party"}), {{"room/kitchen", 1}})),
              (std::vector<std::string>{"room/kitchen#2"}));
    EXPECT_TRUE(this->search(words({"plan"}), {{"room/kitchen", 1}}).empty());
    EXPECT_EQ(this->search(words({"secret"}), {{"room/kitchen", 0}, {"dm/alice/bob", 0}}).size(),
              2U);
}

TYPED_TEST(ChatSearch, AnEditedMessageMatchesByItsLastTextAndEventsNeverMatch) {
    this->store().append_history(message("room/kitchen", 1, "meet at noon"));
    this->store().append_history(event("room/kitchen", 2, history_kind::edit, 1, "meet at dusk"));
    this->store().append_history(
        event("room/kitchen", 3, history_kind::reaction_added, 1, "thumbs"));
    EXPECT_TRUE(this->search(words({"noon"})).empty());
    const auto hits = this->search(words({"dusk"}));
    ASSERT_EQ(hits.size(), 1U);
    EXPECT_EQ(hits[0].message.id, 1U);
    EXPECT_EQ(hits[0].message.edited_unix_ms, 2'000U);
    // The events' own payloads are not indexed.
    EXPECT_TRUE(this->search(words({"type"})).empty());
    EXPECT_TRUE(this->search(words({"event"})).empty());
}

TYPED_TEST(ChatSearch, ADeletedMessageNeverMatches) {
    this->store().append_history(message("room/kitchen", 1, "my password is hunter"));
    this->store().append_history(message("room/kitchen", 2, "edit me hunter"));
    this->store().append_history(event("room/kitchen", 3, history_kind::edit, 2, "edited hunter"));
    this->store().append_history(event("room/kitchen", 4, history_kind::deletion, 1));
    this->store().append_history(event("room/kitchen", 5, history_kind::deletion, 2));
    EXPECT_TRUE(this->search(words({"hunter"})).empty());
    EXPECT_TRUE(this->search(words({"password"})).empty());
    // Appending an id twice (the first write wins) indexes nothing more.
    this->store().append_history(message("room/kitchen", 1, "hunter again"));
    EXPECT_TRUE(this->search(words({"hunter"})).empty());
}

TYPED_TEST(ChatSearch, RetentionRemovesFromTheIndex) {
    this->store().append_history(message("room/kitchen", 1, "old news", 1'000));
    this->store().append_history(message("room/kitchen", 2, "fresh news", 5'000));
    this->store().prune_history(2'000, 0);
    EXPECT_EQ(keys_of(this->search(words({"news"}))), (std::vector<std::string>{"room/kitchen#2"}));
    EXPECT_TRUE(this->search(words({"old"})).empty());
}

TYPED_TEST(ChatSearch, WithTheIndexOffSearchFails) {
    this->store_.reset();
    this->options_.is_search_enabled = false;
    this->store_ = TypeParam::open(this->options_);
    this->store().append_history(message("room/kitchen", 1, "hello"));
    search_request request;
    request.terms = words({"hello"});
    request.scopes = {{"room/kitchen", 0}};
    const search_outcome outcome = run_search(this->store(), std::move(request));
    EXPECT_EQ(outcome.status.code, store_errc::read_failed);
    EXPECT_TRUE(outcome.hits.empty());
}

store_options sqlite_options(const temporary_database& file, bool is_search_enabled = true) {
    store_options options;
    options.path = file.path();
    options.commit_interval_ms = 1;
    options.is_search_enabled = is_search_enabled;
    return options;
}

search_request request_for(std::string word) {
    search_request request;
    request.terms = {{std::move(word), false}};
    request.scopes = {{"room/kitchen", 0}};
    return request;
}

/// The rows of the FTS5 index's data table (its terms), which is empty when nothing is indexed
/// beyond its structure record.
std::int64_t index_rows(const temporary_database& file) {
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
    return connection.query_integer("SELECT count(*) FROM chat_search_docsize");
}

TEST(SqliteChatSearch, TurningTheIndexOffEmptiesItAndOnFillsItFromHistory) {
    temporary_database file;
    {
        const auto store = open_chat_store(sqlite_options(file));
        store->append_history(message("room/kitchen", 1, "written while on"));
        store->flush();
    }
    EXPECT_EQ(index_rows(file), 1);
    {
        const auto store = open_chat_store(sqlite_options(file, false));
        EXPECT_EQ(index_rows(file), 0);
        store->append_history(message("room/kitchen", 2, "written while off"));
        store->flush();
        EXPECT_EQ(index_rows(file), 0);
    }
    const auto store = open_chat_store(sqlite_options(file));
    EXPECT_EQ(run_search(*store, request_for("written")).hits.size(), 2U);
    EXPECT_EQ(index_rows(file), 2);
}

TEST(SqliteChatSearch, MigratesAVersionTenDatabaseAndFindsItsHistory) {
    temporary_database file;
    {
        // A database as the previous release wrote it: a message, an edited one, a deleted one.
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 10);
        connection.execute(
            "INSERT INTO chat_history (conversation, id, sender, topic, ts_unix_ms, payload) "
            "VALUES ('room/kitchen', 1, 'alice', 'chat/room/kitchen/alice', 5, "
            "CAST('an old message about tea' AS BLOB)), "
            "('room/kitchen', 2, 'bob', 'chat/room/kitchen/bob', 6, 'tea at four');"
            "INSERT INTO chat_history (conversation, id, sender, topic, ts_unix_ms, payload, "
            "event, of_id, is_deleted) VALUES ('room/kitchen', 3, 'bob', "
            "'chat/room/kitchen/bob', 7, '', 0, 0, 1), ('room/kitchen', 4, 'bob', "
            "'chat/room/kitchen/bob', 8, '{\"type\":\"edit\",\"of\":2,\"text\":\"tea\"}', "
            "1, 2, 0);");
    }
    const auto store = open_chat_store(sqlite_options(file));
    const auto hits = run_search(*store, request_for("tea")).hits;
    ASSERT_EQ(hits.size(), 2U);
    EXPECT_EQ(keys_of(hits), (std::vector<std::string>{"room/kitchen#2", "room/kitchen#1"}));
    EXPECT_EQ(hits[1].snippet, "an old message about **tea**");
    EXPECT_TRUE(run_search(*store, request_for("edit")).hits.empty());
    // New messages are indexed beside the old ones.
    store->append_history(message("room/kitchen", 5, "more tea"));
    EXPECT_EQ(run_search(*store, request_for("tea")).hits.size(), 3U);
}

TEST(SqliteChatSearch, TheIndexKeepsNoCopyOfTheTextAndStaysConsistent) {
    temporary_database file;
    const auto store = open_chat_store(sqlite_options(file));
    store->append_history(message("room/kitchen", 1, "one two three", 1'000));
    store->append_history(message("room/kitchen", 2, "two three four", 5'000));
    store->append_history(event("room/kitchen", 3, history_kind::edit, 2, "five six"));
    store->append_history(event("room/kitchen", 4, history_kind::deletion, 1));
    store->prune_history(2'000, 0);
    store->flush();
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM sqlite_master WHERE name = "
                                       "'chat_search_content'"),
              0);
    // FTS5's own check of the index's structure (rank 0: without comparing it to the content
    // table, which also holds rows that are not indexed).
    connection.execute("INSERT INTO chat_search (chat_search, rank) VALUES ('integrity-check', 0)");
    EXPECT_EQ(run_search(*store, request_for("five")).hits.size(), 1U);
    EXPECT_TRUE(run_search(*store, request_for("two")).hits.empty());
}

/// A search whose completion waits until released: it holds the search thread (or, where
/// searches ran on the writer thread, the writer) for as long as a slow search would.
class blocking_search {
public:
    blocking_search(chat_store& store, search_request request) {
        store.search_history(std::move(request),
                             [this](std::vector<search_hit>, const store_status&) {
                                 started_.set_value();
                                 release_future_.wait();
                             });
    }
    ~blocking_search() { release(); }
    blocking_search(const blocking_search&) = delete;
    blocking_search& operator=(const blocking_search&) = delete;

    /// Waits until the search has run and its completion is waiting.
    void wait_started() { started_.get_future().wait(); }
    void release() {
        if (!is_released_) {
            is_released_ = true;
            release_.set_value();
        }
    }

private:
    std::promise<void> started_;
    std::promise<void> release_;
    std::shared_future<void> release_future_ = release_.get_future().share();
    bool is_released_ = false;
};

TEST(SqliteChatSearch, ASearchThatDoesNotFinishDoesNotHoldUpHistoryAppends) {
    temporary_database file;
    const auto store = open_chat_store(sqlite_options(file));
    store->append_history(message("room/kitchen", 1, "tea"));
    blocking_search stuck(*store, request_for("tea"));
    stuck.wait_started();
    std::promise<store_status> appended;
    store->append_history(message("room/kitchen", 2, "more tea"),
                          [&](const store_status& status) { appended.set_value(status); });
    // Bounded so that the failure this guards against (the append waits behind the search) ends.
    auto outcome = appended.get_future();
    ASSERT_EQ(outcome.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_TRUE(outcome.get().is_ok());
    stuck.release();
    // The search thread is free again, and the next search sees the append.
    EXPECT_EQ(run_search(*store, request_for("tea")).hits.size(), 2U);
}

TEST(SqliteChatSearch, RefusesSearchesBeyondItsBoundAsBusyAndAcceptsThemAgainLater) {
    temporary_database file;
    store_options options = sqlite_options(file);
    options.max_pending_searches = 2;
    const auto store = open_chat_store(options);
    store->append_history(message("room/kitchen", 1, "tea"));
    blocking_search running(*store, request_for("tea"));
    running.wait_started();
    std::promise<search_outcome> queued;
    store->search_history(request_for("tea"),
                          [&](std::vector<search_hit> hits, const store_status& status) {
                              queued.set_value({std::move(hits), status});
                          });
    std::optional<store_status> refused;
    store->search_history(
        request_for("tea"),
        [&](std::vector<search_hit>, const store_status& status) { refused = status; });
    // Refused at once, on the calling thread.
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->code, store_errc::busy);
    running.release();
    const search_outcome waited = queued.get_future().get();
    EXPECT_TRUE(waited.status.is_ok());
    EXPECT_EQ(waited.hits.size(), 1U);
    EXPECT_EQ(run_search(*store, request_for("tea")).hits.size(), 1U);
}

} // namespace
} // namespace perch::store
