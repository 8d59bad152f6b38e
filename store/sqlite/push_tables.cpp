// The Web Push tables' statements.
#include "store/sqlite/push_tables.hpp"

#include <sqlite3.h>

namespace perch::store::sqlite {

push_tables::push_tables(database& connection)
    : connection_(connection), user_exists_(connection, "SELECT 1 FROM chat_users WHERE name = ?1"),
      upsert_subscription_(connection,
                           "INSERT INTO chat_push_subscriptions (user, device, endpoint, p256dh, "
                           "auth, created_unix_ms, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '') "
                           "ON CONFLICT (user, device) DO UPDATE SET endpoint = excluded.endpoint, "
                           "p256dh = excluded.p256dh, auth = excluded.auth, created_unix_ms = "
                           "excluded.created_unix_ms, last_error = ''"),
      delete_subscription_(connection,
                           "DELETE FROM chat_push_subscriptions WHERE user = ?1 AND device = ?2"),
      delete_endpoint_(connection, "DELETE FROM chat_push_subscriptions WHERE endpoint = ?1"),
      update_error_(connection,
                    "UPDATE chat_push_subscriptions SET last_error = ?2 WHERE endpoint = ?1"),
      upsert_preview_(connection,
                      "INSERT INTO chat_push_settings (user, is_preview_allowed) VALUES (?1, ?2) "
                      "ON CONFLICT (user) DO UPDATE SET is_preview_allowed = excluded."
                      "is_preview_allowed"),
      select_preview_(connection,
                      "SELECT is_preview_allowed FROM chat_push_settings WHERE user = ?1"),
      select_subscriptions_(connection,
                            "SELECT user, device, endpoint, p256dh, auth, created_unix_ms, "
                            "last_error FROM chat_push_subscriptions WHERE user = ?1 ORDER BY "
                            "device"),
      delete_user_subscriptions_(connection, "DELETE FROM chat_push_subscriptions WHERE user = ?1"),
      delete_user_settings_(connection, "DELETE FROM chat_push_settings WHERE user = ?1"),
      select_devices_(connection,
                      "SELECT user, device FROM chat_push_subscriptions ORDER BY user, device") {}

bool push_tables::user_exists(const std::string& user) {
    user_exists_.bind_text(1, user);
    const bool found = user_exists_.step();
    user_exists_.reset();
    return found;
}

directory_result push_tables::set_subscription(const push_subscription_record& subscription) {
    if (!user_exists(subscription.user)) {
        return directory_result::not_found;
    }
    upsert_subscription_.bind_text(1, subscription.user);
    upsert_subscription_.bind_text(2, subscription.device);
    upsert_subscription_.bind_text(3, subscription.endpoint);
    upsert_subscription_.bind_text(4, subscription.p256dh);
    upsert_subscription_.bind_text(5, subscription.auth);
    upsert_subscription_.bind_integer(6, static_cast<std::int64_t>(subscription.created_unix_ms));
    upsert_subscription_.run();
    return directory_result::done;
}

directory_result push_tables::remove_subscription(const std::string& user,
                                                  const std::string& device) {
    delete_subscription_.bind_text(1, user);
    delete_subscription_.bind_text(2, device);
    delete_subscription_.run();
    return sqlite3_changes(connection_.handle()) == 0 ? directory_result::not_found
                                                      : directory_result::done;
}

directory_result push_tables::remove_endpoint(const std::string& endpoint) {
    delete_endpoint_.bind_text(1, endpoint);
    delete_endpoint_.run();
    return sqlite3_changes(connection_.handle()) == 0 ? directory_result::not_found
                                                      : directory_result::done;
}

directory_result push_tables::set_error(const std::string& endpoint, const std::string& error) {
    update_error_.bind_text(1, endpoint);
    update_error_.bind_text(2, error);
    update_error_.run();
    return sqlite3_changes(connection_.handle()) == 0 ? directory_result::not_found
                                                      : directory_result::done;
}

directory_result push_tables::set_preview(const std::string& user, bool is_allowed) {
    if (!user_exists(user)) {
        return directory_result::not_found;
    }
    upsert_preview_.bind_text(1, user);
    upsert_preview_.bind_integer(2, is_allowed ? 1 : 0);
    upsert_preview_.run();
    return directory_result::done;
}

push_state_record push_tables::state_of(const std::string& user) {
    push_state_record state;
    select_preview_.bind_text(1, user);
    if (select_preview_.step()) {
        state.is_preview_allowed = select_preview_.column_integer(0) != 0;
    }
    select_preview_.reset();
    select_subscriptions_.bind_text(1, user);
    while (select_subscriptions_.step()) {
        state.subscriptions.push_back(push_subscription_record{
            select_subscriptions_.column_text(0), select_subscriptions_.column_text(1),
            select_subscriptions_.column_text(2), select_subscriptions_.column_text(3),
            select_subscriptions_.column_text(4),
            static_cast<std::uint64_t>(select_subscriptions_.column_integer(5)),
            select_subscriptions_.column_text(6)});
    }
    select_subscriptions_.reset();
    return state;
}

void push_tables::remove_user(const std::string& user) {
    delete_user_subscriptions_.bind_text(1, user);
    delete_user_subscriptions_.run();
    delete_user_settings_.bind_text(1, user);
    delete_user_settings_.run();
}

std::vector<std::pair<std::string, std::string>> push_tables::subscribed_devices() {
    std::vector<std::pair<std::string, std::string>> devices;
    while (select_devices_.step()) {
        devices.emplace_back(select_devices_.column_text(0), select_devices_.column_text(1));
    }
    select_devices_.reset();
    return devices;
}

} // namespace perch::store::sqlite
