// Full-text search of chat history (docs/CHAT.md "Search") over a large history: fills a chat
// store with MESSAGES messages of realistic text (Zipf-distributed words, 3 to 20 per message,
// in 300 rooms and 2,000 DMs) through the store API, with the search index on and off, and
// prints one line per result: search latency p50/p99 per kind of query, database bytes per
// message, and bytes written per message during the fill and during a live-like trickle (groups
// of 20 messages, as chat_commit_interval_ms groups them under moderate traffic).
// usage: bench_search [DIRECTORY] [MESSAGES] [QUERIES]   (DIRECTORY on the disk to measure)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "store/chat_store.hpp"

namespace {

using perch::store::chat_store;
using perch::store::history_record;
using perch::store::search_hit;
using perch::store::search_request;
using perch::store::search_scope;
using perch::store::search_term;
using perch::store::store_status;

/// Bytes this process has caused to be sent to the storage layer (/proc/self/io write_bytes).
std::uint64_t bytes_written_so_far() {
    std::ifstream io("/proc/self/io");
    std::string key;
    std::uint64_t value = 0;
    while (io >> key >> value) {
        if (key == "write_bytes:") {
            return value;
        }
    }
    return 0;
}

std::uint64_t bytes_on_disk(const std::filesystem::path& directory) {
    std::uint64_t total = 0;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        if (entry.is_regular_file()) {
            total += entry.file_size();
        }
    }
    return total;
}

/// The vocabulary, most frequent first: common chat words, then made-up words of two to four
/// syllables, so that the tail is long as in real text.
std::vector<std::string> make_vocabulary(std::size_t size) {
    std::vector<std::string> words = {
        "the",    "i",      "you",     "to",       "a",       "and",   "it",       "is",
        "that",   "of",     "in",      "for",      "we",      "on",    "me",       "ok",
        "this",   "be",     "have",    "can",      "what",    "do",    "so",       "just",
        "are",    "not",    "with",    "at",       "will",    "but",   "my",       "yes",
        "lol",    "thanks", "know",    "get",      "think",   "good",  "now",      "time",
        "today",  "there",  "when",    "tomorrow", "meeting", "call",  "see",      "going",
        "need",   "how",    "one",     "back",     "later",   "work",  "home",     "sure",
        "please", "great",  "new",     "want",     "right",   "send",  "tonight",  "lunch",
        "dinner", "coffee", "weekend", "project",  "release", "build", "test",     "deploy",
        "review", "office", "train",   "late",     "sorry",   "happy", "birthday", "photo",
        "video",  "music",  "game",    "match",    "team",    "price", "order",    "bug",
        "fix",    "server", "update",  "link",     "file",    "plan",  "idea",     "question"};
    const std::vector<std::string> onsets = {"b",  "c",  "d",  "f",  "g",  "h",  "j",  "k",
                                             "l",  "m",  "n",  "p",  "r",  "s",  "t",  "v",
                                             "w",  "z",  "br", "ch", "cl", "dr", "fl", "gr",
                                             "pl", "pr", "sh", "sl", "st", "th", "tr", "qu"};
    const std::vector<std::string> vowels = {"a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou"};
    const std::vector<std::string> codas = {"", "", "n", "r", "s", "t", "l", "nd", "st", "ck"};
    std::mt19937 random(7);
    while (words.size() < size) {
        std::string word;
        const int syllables = 2 + static_cast<int>(random() % 3);
        for (int index = 0; index < syllables; ++index) {
            word += onsets[random() % onsets.size()];
            word += vowels[random() % vowels.size()];
        }
        word += codas[random() % codas.size()];
        words.push_back(std::move(word));
    }
    return words;
}

/// Draws word ranks with Zipf's law (s = 1).
class zipf {
public:
    zipf(std::size_t size, std::uint32_t seed) : random_(seed) {
        cumulative_.reserve(size);
        double sum = 0;
        for (std::size_t rank = 1; rank <= size; ++rank) {
            sum += 1.0 / static_cast<double>(rank);
            cumulative_.push_back(sum);
        }
    }
    std::size_t next() {
        const double draw = std::uniform_real_distribution<double>(0, cumulative_.back())(random_);
        return static_cast<std::size_t>(
            std::lower_bound(cumulative_.begin(), cumulative_.end(), draw) - cumulative_.begin());
    }
    std::mt19937& random() { return random_; }

private:
    std::mt19937 random_;
    std::vector<double> cumulative_;
};

constexpr int rooms = 300;
constexpr int direct_pairs = 2'000;
constexpr int users = 1'000;

std::string user_name(int index) {
    return "user" + std::to_string(index);
}

std::string conversation_name(int index) {
    if (index < rooms) {
        return "room/room" + std::to_string(index);
    }
    const int pair = index - rooms;
    const std::string first = user_name(pair % users);
    const std::string second = user_name((pair * 7 + 1) % users);
    return first < second ? "dm/" + first + "/" + second : "dm/" + second + "/" + first;
}

/// Writes `messages` messages through the store API, flushing every `group` messages.
void fill(chat_store& store, const std::vector<std::string>& vocabulary, zipf& words,
          std::vector<std::uint64_t>& last_ids, std::uint64_t& clock_ms, int messages, int group) {
    const int conversations = rooms + direct_pairs;
    for (int index = 0; index < messages; ++index) {
        // Rooms carry most of the traffic.
        const int conversation = words.random()() % 4 == 0
                                     ? rooms + static_cast<int>(words.random()() % direct_pairs)
                                     : static_cast<int>(words.random()() % rooms);
        std::string text;
        const int length = 3 + static_cast<int>(words.random()() % 18);
        for (int word = 0; word < length; ++word) {
            if (!text.empty()) {
                text += ' ';
            }
            text += vocabulary[words.next()];
        }
        history_record record;
        record.conversation = conversation_name(conversation % conversations);
        record.id = ++last_ids[static_cast<std::size_t>(conversation)];
        record.sender = user_name(static_cast<int>(words.random()() % users));
        record.topic = "chat/" + record.conversation + "/" + record.sender;
        record.ts_unix_ms = ++clock_ms;
        record.payload.assign(text.begin(), text.end());
        store.append_history(std::move(record));
        if ((index + 1) % group == 0) {
            store.flush();
        }
    }
    store.flush();
}

struct query_kind {
    const char* name;
    std::vector<search_term> (*make)(const std::vector<std::string>&, std::mt19937&);
};

std::vector<search_term> frequent_word(const std::vector<std::string>& vocabulary,
                                       std::mt19937& random) {
    return {{vocabulary[40 + random() % 60], false}};
}
std::vector<search_term> middle_word(const std::vector<std::string>& vocabulary,
                                     std::mt19937& random) {
    return {{vocabulary[500 + random() % 1'500], false}};
}
std::vector<search_term> rare_word(const std::vector<std::string>& vocabulary,
                                   std::mt19937& random) {
    return {{vocabulary[10'000 + random() % 10'000], false}};
}
std::vector<search_term> two_words(const std::vector<std::string>& vocabulary,
                                   std::mt19937& random) {
    return {{vocabulary[40 + random() % 60], false}, {vocabulary[200 + random() % 800], false}};
}
std::vector<search_term> prefix(const std::vector<std::string>& vocabulary, std::mt19937& random) {
    return {{vocabulary[300 + random() % 2'000].substr(0, 3), true}};
}

/// Runs `queries` searches of each kind in `scopes` and prints p50/p99 and hits per query.
void measure_queries(chat_store& store, const std::vector<std::string>& vocabulary,
                     const char* scope_name, const std::vector<search_scope>& scopes, int queries,
                     int messages) {
    const std::vector<query_kind> kinds = {{"frequent", frequent_word},
                                           {"middle", middle_word},
                                           {"rare", rare_word},
                                           {"two_words", two_words},
                                           {"prefix", prefix}};
    std::mt19937 random(11);
    for (const query_kind& kind : kinds) {
        std::vector<double> latencies_ms;
        std::size_t hits_total = 0;
        for (int index = 0; index < queries; ++index) {
            search_request request;
            request.terms = kind.make(vocabulary, random);
            request.scopes = scopes;
            request.limit = 21;
            const auto started = std::chrono::steady_clock::now();
            std::promise<std::size_t> found;
            store.search_history(
                std::move(request), [&](std::vector<search_hit> hits, const store_status& status) {
                    if (!status.is_ok()) {
                        std::fprintf(stderr, "search failed: %s\n", status.detail.c_str());
                    }
                    found.set_value(hits.size());
                });
            hits_total += found.get_future().get();
            latencies_ms.push_back(std::chrono::duration<double, std::milli>(
                                       std::chrono::steady_clock::now() - started)
                                       .count());
        }
        std::sort(latencies_ms.begin(), latencies_ms.end());
        const auto at = [&](double quantile) {
            return latencies_ms[static_cast<std::size_t>(
                quantile * static_cast<double>(latencies_ms.size() - 1))];
        };
        std::printf("search messages=%d scope=%s query=%s p50_ms=%.2f p99_ms=%.2f "
                    "hits_per_query=%.1f\n",
                    messages, scope_name, kind.name, at(0.5), at(0.99),
                    static_cast<double>(hits_total) / queries);
    }
}

} // namespace

int main(int argc, char** argv) {
    const std::filesystem::path base = argc > 1 ? argv[1] : ".";
    const int messages = argc > 2 ? std::stoi(argv[2]) : 1'000'000;
    const int queries = argc > 3 ? std::stoi(argv[3]) : 200;
    const std::vector<std::string> vocabulary = make_vocabulary(30'000);
    for (const bool is_indexed : {true, false}) {
        const std::filesystem::path directory =
            base / (is_indexed ? "bench-search-on" : "bench-search-off");
        std::filesystem::remove_all(directory);
        std::filesystem::create_directories(directory);
        perch::store::store_options options;
        options.path = (directory / "perch.db").string();
        options.durability = perch::store::durability_level::full;
        options.commit_interval_ms = 100;
        options.is_search_enabled = is_indexed;
        auto store = perch::store::open_chat_store(options);
        zipf words(vocabulary.size(), 3);
        std::vector<std::uint64_t> last_ids(rooms + direct_pairs, 0);
        std::uint64_t clock_ms = 1'700'000'000'000;

        const std::uint64_t fill_written = bytes_written_so_far();
        const auto fill_started = std::chrono::steady_clock::now();
        fill(*store, vocabulary, words, last_ids, clock_ms, messages, 1'000);
        const double fill_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - fill_started).count();
        const double fill_bytes =
            static_cast<double>(bytes_written_so_far() - fill_written) / messages;
        std::printf("fill messages=%d index=%s messages_per_s=%.0f written_bytes_per_message=%.0f "
                    "disk_bytes_per_message=%.0f\n",
                    messages, is_indexed ? "on" : "off", messages / fill_s, fill_bytes,
                    static_cast<double>(bytes_on_disk(directory)) / messages);

        constexpr int trickle = 20'000;
        const std::uint64_t trickle_written = bytes_written_so_far();
        fill(*store, vocabulary, words, last_ids, clock_ms, trickle, 20);
        std::printf("trickle messages=%d group=20 index=%s written_bytes_per_message=%.0f\n",
                    trickle, is_indexed ? "on" : "off",
                    static_cast<double>(bytes_written_so_far() - trickle_written) / trickle);

        if (!is_indexed) {
            continue;
        }
        // A user in 20 rooms and 10 DMs; one room; every conversation (the widest scope).
        std::vector<search_scope> member;
        for (int room = 0; room < 20; ++room) {
            member.push_back({conversation_name(room * 15), 0});
        }
        for (int pair = 0; pair < 10; ++pair) {
            member.push_back({conversation_name(rooms + pair * 200), 0});
        }
        std::vector<search_scope> everything;
        for (int index = 0; index < rooms + direct_pairs; ++index) {
            everything.push_back({conversation_name(index), 0});
        }
        measure_queries(*store, vocabulary, "one_room", {{conversation_name(1), 0}}, queries,
                        messages);
        measure_queries(*store, vocabulary, "member_of_30", member, queries, messages);
        measure_queries(*store, vocabulary, "all_2300", everything, queries, messages);
    }
    return 0;
}
