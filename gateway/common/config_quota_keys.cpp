// The quota keys of the config file (docs/LIMITS.md): the defaults every client gets and
// `user_quota NAME KEY VALUE` for one user.
#include <array>

#include "gateway/common/config_parsing.hpp"
#include "gateway/common/token_bucket.hpp"

namespace perch::gateway {

namespace config_parsing {

namespace {

/// The keys of client_quota, as written in the file and after `user_quota NAME`.
constexpr std::array<std::pair<std::string_view, std::uint64_t client_quota::*>, 7> quota_keys = {{
    {"max_publish_rate", &client_quota::max_publish_rate},
    {"max_publish_burst", &client_quota::max_publish_burst},
    {"max_publish_bytes_rate", &client_quota::max_publish_bytes_rate},
    {"max_publish_bytes_burst", &client_quota::max_publish_bytes_burst},
    {"max_subscriptions_per_client", &client_quota::max_subscriptions_per_client},
    {"max_subscribe_rate", &client_quota::max_subscribe_rate},
    {"max_subscribe_burst", &client_quota::max_subscribe_burst},
}};

/// A burst of 0 would never let anything through: bursts start at 1.
std::uint64_t quota_minimum(std::string_view key) {
    return key.ends_with("_burst") ? 1 : 0;
}

std::uint64_t client_quota::*find_quota_key(std::string_view key) {
    for (const auto& [name, field] : quota_keys) {
        if (name == key) {
            return field;
        }
    }
    return nullptr;
}

key_handler quota_key(std::uint64_t client_quota::*field, std::string_view key) {
    return [field, key](parse_state& state, const config_line& line) {
        state.config.quota.*field = line.unsigned_value(quota_minimum(key), max_rate_value);
    };
}

/// `user_quota NAME KEY VALUE`: one quota of one user.
void handle_user_quota(parse_state& state, const config_line& line) {
    if (line.values.size() != 3) {
        line.fail("expected NAME KEY VALUE");
    }
    const std::string_view key = line.values[1];
    if (find_quota_key(key) == nullptr) {
        line.fail(
            fmt::format("'{}' is not a quota key (max_publish_rate, max_publish_burst, "
                        "max_publish_bytes_rate, max_publish_bytes_burst, "
                        "max_subscriptions_per_client, max_subscribe_rate, max_subscribe_burst)",
                        key));
    }
    config_line value_line = line;
    value_line.values = {line.values[2]};
    state.config.user_quotas.push_back(
        {std::string(line.values[0]), std::string(key),
         value_line.unsigned_value(quota_minimum(key), max_rate_value)});
}

} // namespace

void add_quota_keys(key_rows& rows) {
    rows.insert(
        rows.end(),
        {
            {"max_publish_rate", quota_key(&client_quota::max_publish_rate, "max_publish_rate")},
            {"max_publish_burst", quota_key(&client_quota::max_publish_burst, "max_publish_burst")},
            {"max_publish_bytes_rate",
             quota_key(&client_quota::max_publish_bytes_rate, "max_publish_bytes_rate")},
            {"max_publish_bytes_burst",
             quota_key(&client_quota::max_publish_bytes_burst, "max_publish_bytes_burst")},
            {"max_subscriptions_per_client", quota_key(&client_quota::max_subscriptions_per_client,
                                                       "max_subscriptions_per_client")},
            {"user_quota", handle_user_quota},
            {"max_subscribe_rate",
             quota_key(&client_quota::max_subscribe_rate, "max_subscribe_rate")},
            {"max_subscribe_burst",
             quota_key(&client_quota::max_subscribe_burst, "max_subscribe_burst")},
        });
}

} // namespace config_parsing

client_quota quota_for_user(const broker_config& config, std::string_view user) {
    client_quota quota = config.quota;
    if (user.empty()) {
        return quota;
    }
    for (const user_quota_setting& setting : config.user_quotas) {
        if (setting.user == user) {
            quota.*config_parsing::find_quota_key(setting.key) = setting.value;
        }
    }
    return quota;
}

} // namespace perch::gateway
