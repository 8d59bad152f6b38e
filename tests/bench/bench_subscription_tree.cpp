// Benchmark of subscription_tree::match: the cost per PUBLISH and per delivery for a wide index
// (many subscribers, few matches), a fan-out (thousands of subscribers on one topic) and
// overlapping subscriptions; and how long the changes of a subscription storm hold the index (a
// writer excludes every match): a storm connection's filters added one by one, then removed at
// once or in slices. Prints one line per scenario: parameters, runs, median, min, max.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "mqtt/subscription_tree.hpp"

namespace {

using perch::mqtt::match_output;
using perch::mqtt::qos;
using perch::mqtt::subscriber_id;
using perch::mqtt::subscription_options;
using perch::mqtt::subscription_tree;

constexpr int runs = 7;

struct scenario {
    const char* name;
    std::size_t subscribers;
    std::size_t filters_per_subscriber;
    std::vector<std::string> topics;
};

/// Runs `match` over every topic `rounds` times per run; returns nanoseconds per match of each
/// run and the deliveries of one pass.
std::vector<double> time_matches(const subscription_tree& tree,
                                 const std::vector<std::string>& topics, int rounds,
                                 std::size_t& deliveries_per_pass) {
    match_output output;
    std::vector<double> nanoseconds_per_match;
    deliveries_per_pass = 0;
    for (const std::string& topic : topics) {
        tree.match(topic, output);
        deliveries_per_pass += output.subscribers().size() + output.shared_groups().size();
    }
    for (int run = 0; run < runs; ++run) {
        std::size_t sink = 0;
        const auto start = std::chrono::steady_clock::now();
        for (int round = 0; round < rounds; ++round) {
            for (const std::string& topic : topics) {
                tree.match(topic, output);
                sink += output.subscribers().size();
            }
        }
        const auto elapsed = std::chrono::steady_clock::now() - start;
        const double total_ns = std::chrono::duration<double, std::nano>(elapsed).count();
        nanoseconds_per_match.push_back(total_ns / static_cast<double>(rounds * topics.size()));
        if (sink == static_cast<std::size_t>(-1)) {
            std::puts("unreachable");
        }
    }
    std::sort(nanoseconds_per_match.begin(), nanoseconds_per_match.end());
    return nanoseconds_per_match;
}

void report(const scenario& setup, const subscription_tree& tree, int rounds) {
    std::size_t deliveries_per_pass = 0;
    const std::vector<double> samples =
        time_matches(tree, setup.topics, rounds, deliveries_per_pass);
    const double deliveries_per_match =
        static_cast<double>(deliveries_per_pass) / static_cast<double>(setup.topics.size());
    const double median = samples[samples.size() / 2];
    std::printf("bench=subscription_tree scenario=%s subscribers=%zu subscriptions=%zu "
                "deliveries_per_match=%.1f runs=%d median_ns_per_match=%.1f min_ns=%.1f "
                "max_ns=%.1f median_ns_per_delivery=%.2f\n",
                setup.name, setup.subscribers, tree.subscription_count(), deliveries_per_match,
                runs, median, samples.front(), samples.back(),
                deliveries_per_match > 0 ? median / deliveries_per_match : 0.0);
}

subscription_options at(qos level) {
    subscription_options options;
    options.maximum_qos = level;
    return options;
}

/// IM-like index: each user subscribes to its DM topic and to a few rooms; devices report state.
void wide_index(std::size_t users) {
    subscription_tree tree;
    std::mt19937 random(7);
    const std::size_t rooms = users / 20 + 1;
    std::uniform_int_distribution<std::size_t> pick_room(0, rooms - 1);
    for (subscriber_id user = 0; user < users; ++user) {
        const std::string name = "user" + std::to_string(user);
        tree.subscribe(user, "chat/dm/" + name + "/+", at(qos::at_least_once), 1);
        for (int room = 0; room < 5; ++room) {
            tree.subscribe(user, "chat/room/room" + std::to_string(pick_room(random)) + "/+",
                           at(qos::at_least_once), 2);
        }
        tree.subscribe(user, "devices/" + name + "/+/state", at(qos::at_most_once));
        tree.subscribe(user, "devices/" + name + "/#", at(qos::at_most_once));
    }
    scenario setup{"wide_index", users, 8, {}};
    for (int index = 0; index < 256; ++index) {
        const std::string user = "user" + std::to_string(pick_room(random) % users);
        switch (index % 3) {
        case 0: setup.topics.push_back("chat/dm/" + user + "/alice"); break;
        case 1:
            setup.topics.push_back("chat/room/room" + std::to_string(pick_room(random)) + "/bob");
            break;
        default: setup.topics.push_back("devices/" + user + "/lamp/state"); break;
        }
    }
    report(setup, tree, 200);
}

/// Every subscriber on the same topic.
void fan_out(std::size_t subscribers) {
    subscription_tree tree;
    for (subscriber_id subscriber = 0; subscriber < subscribers; ++subscriber) {
        tree.subscribe(subscriber, subscriber % 2 == 0 ? "news/world" : "news/+",
                       at(qos::at_least_once));
    }
    scenario setup{"fan_out", subscribers, 1, {"news/world"}};
    report(setup, tree, static_cast<int>(2'000'000 / subscribers + 1));
}

/// Every subscriber holds three overlapping subscriptions with identifiers.
void overlapping(std::size_t subscribers) {
    subscription_tree tree;
    for (subscriber_id subscriber = 0; subscriber < subscribers; ++subscriber) {
        tree.subscribe(subscriber, "home/+/temp", at(qos::at_most_once), 1);
        tree.subscribe(subscriber, "home/#", at(qos::at_least_once), 2);
        tree.subscribe(subscriber, "home/kitchen/temp", at(qos::exactly_once), 3);
    }
    scenario setup{"overlapping", subscribers, 3, {"home/kitchen/temp"}};
    report(setup, tree, static_cast<int>(1'000'000 / subscribers + 1));
}

/// Microseconds since `start`.
double microseconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
        .count();
}

/// A storm connection in a chat-sized index: `filters` filters of its own added one at a time
/// (one exclusive section each), then removed in one section (unsubscribe_all) or in slices of
/// `slice` (unsubscribe_some). Reports the longest section of each kind, the medians over runs.
void storm_changes(std::size_t users, std::size_t filters, std::size_t slice) {
    subscription_tree tree;
    for (subscriber_id user = 0; user < users; ++user) {
        const std::string name = "user" + std::to_string(user);
        tree.subscribe(user, "chat/dm/" + name + "/+", at(qos::at_least_once));
        tree.subscribe(user, "chat/room/room" + std::to_string(user / 20) + "/+",
                       at(qos::at_least_once));
    }
    const subscriber_id storm = users + 1;
    std::vector<double> add_us;
    std::vector<double> whole_removal_us;
    std::vector<double> longest_slice_us;
    for (int run = 0; run < runs; ++run) {
        double longest_add = 0;
        for (std::size_t index = 0; index < filters; ++index) {
            const std::string filter = "soak/storm/1/" + std::to_string(index) + "/+";
            const auto start = std::chrono::steady_clock::now();
            tree.subscribe(storm, filter, at(qos::at_most_once));
            longest_add = std::max(longest_add, microseconds_since(start));
        }
        add_us.push_back(longest_add);
        if (run % 2 == 0) {
            const auto start = std::chrono::steady_clock::now();
            tree.unsubscribe_all(storm);
            whole_removal_us.push_back(microseconds_since(start));
        } else {
            double longest = 0;
            std::size_t remaining = filters;
            while (remaining != 0) {
                const auto start = std::chrono::steady_clock::now();
                remaining = tree.unsubscribe_some(storm, slice);
                longest = std::max(longest, microseconds_since(start));
            }
            longest_slice_us.push_back(longest);
        }
    }
    std::sort(add_us.begin(), add_us.end());
    std::sort(whole_removal_us.begin(), whole_removal_us.end());
    std::sort(longest_slice_us.begin(), longest_slice_us.end());
    std::printf("bench=subscription_tree scenario=storm_changes subscribers=%zu storm_filters=%zu "
                "runs=%d median_longest_add_us=%.1f median_removal_at_once_us=%.1f "
                "slice=%zu median_longest_slice_us=%.1f\n",
                users, filters, runs, add_us[add_us.size() / 2],
                whole_removal_us[whole_removal_us.size() / 2], slice,
                longest_slice_us[longest_slice_us.size() / 2]);
}

} // namespace

int main() {
    wide_index(10'000);
    wide_index(100'000);
    fan_out(1'000);
    fan_out(10'000);
    overlapping(1'000);
    overlapping(10'000);
    storm_changes(1'000, 1'000, 64);
    storm_changes(1'000, 100, 64);
    return 0;
}
