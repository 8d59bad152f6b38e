// The Web Push tables (schema version 13): subscriptions per user and device, and each user's
// preview setting. Statements on one connection; the caller holds its transaction and lock.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/statement.hpp"

namespace perch::store::sqlite {

/// Prepared statements of the push tables on one connection.
class push_tables {
public:
    explicit push_tables(database& connection);

    /// not_found for an unknown user.
    directory_result set_subscription(const push_subscription_record& subscription);
    /// not_found when nothing was deleted.
    directory_result remove_subscription(const std::string& user, const std::string& device);
    directory_result remove_endpoint(const std::string& endpoint);
    directory_result set_error(const std::string& endpoint, const std::string& error);
    directory_result set_preview(const std::string& user, bool is_allowed);
    push_state_record state_of(const std::string& user);
    /// Deletes the subscriptions and the setting of `user` (part of deleting the user).
    void remove_user(const std::string& user);
    /// (user, device) of every subscription, by user.
    std::vector<std::pair<std::string, std::string>> subscribed_devices();

private:
    bool user_exists(const std::string& user);

    database& connection_;
    statement user_exists_;
    statement upsert_subscription_;
    statement delete_subscription_;
    statement delete_endpoint_;
    statement update_error_;
    statement upsert_preview_;
    statement select_preview_;
    statement select_subscriptions_;
    statement delete_user_subscriptions_;
    statement delete_user_settings_;
    statement select_devices_;
};

} // namespace perch::store::sqlite
