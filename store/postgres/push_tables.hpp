// Web Push subscriptions and each user's preview setting (docs/CHAT.md "Web Push"), on one
// PostgreSQL connection. Not part of the directory: no change here moves its version.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::store::postgres {

class connection;

/// Every member throws postgres_error on failure.
class push_tables {
public:
    explicit push_tables(connection& database) : database_(database) {}

    directory_result set_subscription(const push_subscription_record& subscription);
    directory_result remove_subscription(const std::string& user, const std::string& device);
    directory_result remove_endpoint(const std::string& endpoint);
    directory_result set_error(const std::string& endpoint, const std::string& error);
    directory_result set_preview(const std::string& user, bool is_allowed);
    push_state_record state_of(const std::string& user);
    /// The (user, device) of every subscription, by user.
    std::vector<std::pair<std::string, std::string>> subscribed_devices();

private:
    bool user_exists(const std::string& user);
    connection& database_;
};

} // namespace perch::store::postgres
