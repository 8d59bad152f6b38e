// The Web Push tables' statements.
#include "store/postgres/push_tables.hpp"

#include "store/postgres/connection.hpp"

namespace perch::store::postgres {
namespace {

directory_result done_when(std::uint64_t changed) {
    return changed == 0 ? directory_result::not_found : directory_result::done;
}

} // namespace

bool push_tables::user_exists(const std::string& user) {
    return database_.run("SELECT 1 FROM chat_users WHERE name = $1", parameters().text(user))
               .rows() > 0;
}

directory_result push_tables::set_subscription(const push_subscription_record& subscription) {
    if (!user_exists(subscription.user)) {
        return directory_result::not_found;
    }
    database_.run("INSERT INTO chat_push_subscriptions (user_name, device, endpoint, p256dh, "
                  "auth, created_unix_ms, last_error) VALUES ($1, $2, $3, $4, $5, $6, '') "
                  "ON CONFLICT (user_name, device) DO UPDATE SET endpoint = excluded.endpoint, "
                  "p256dh = excluded.p256dh, auth = excluded.auth, created_unix_ms = "
                  "excluded.created_unix_ms, last_error = ''",
                  parameters()
                      .text(subscription.user)
                      .text(subscription.device)
                      .text(subscription.endpoint)
                      .text(subscription.p256dh)
                      .text(subscription.auth)
                      .unsigned_integer(subscription.created_unix_ms));
    return directory_result::done;
}

directory_result push_tables::remove_subscription(const std::string& user,
                                                  const std::string& device) {
    return done_when(
        database_
            .run("DELETE FROM chat_push_subscriptions WHERE user_name = $1 AND device = $2",
                 parameters().text(user).text(device))
            .changed());
}

directory_result push_tables::remove_endpoint(const std::string& endpoint) {
    return done_when(database_
                         .run("DELETE FROM chat_push_subscriptions WHERE endpoint = $1",
                              parameters().text(endpoint))
                         .changed());
}

directory_result push_tables::set_error(const std::string& endpoint, const std::string& error) {
    return done_when(database_
                         .run("UPDATE chat_push_subscriptions SET last_error = $2 WHERE "
                              "endpoint = $1",
                              parameters().text(endpoint).text(error))
                         .changed());
}

directory_result push_tables::set_preview(const std::string& user, bool is_allowed) {
    if (!user_exists(user)) {
        return directory_result::not_found;
    }
    database_.run("INSERT INTO chat_push_settings (user_name, is_preview_allowed) VALUES ($1, "
                  "$2) ON CONFLICT (user_name) DO UPDATE SET is_preview_allowed = "
                  "excluded.is_preview_allowed",
                  parameters().text(user).boolean(is_allowed));
    return directory_result::done;
}

push_state_record push_tables::state_of(const std::string& user) {
    push_state_record state;
    const result preview =
        database_.run("SELECT is_preview_allowed FROM chat_push_settings WHERE user_name = $1",
                      parameters().text(user));
    state.is_preview_allowed = preview.rows() > 0 && preview.boolean(0, 0);
    const result rows = database_.run(
        "SELECT user_name, device, endpoint, p256dh, auth, created_unix_ms, last_error FROM "
        "chat_push_subscriptions WHERE user_name = $1 ORDER BY device",
        parameters().text(user));
    for (int row = 0; row < rows.rows(); ++row) {
        state.subscriptions.push_back(push_subscription_record{
            rows.text(row, 0), rows.text(row, 1), rows.text(row, 2), rows.text(row, 3),
            rows.text(row, 4), rows.unsigned_integer(row, 5), rows.text(row, 6)});
    }
    return state;
}

std::vector<std::pair<std::string, std::string>> push_tables::subscribed_devices() {
    std::vector<std::pair<std::string, std::string>> devices;
    const result rows = database_.run(
        "SELECT user_name, device FROM chat_push_subscriptions ORDER BY user_name, device");
    for (int row = 0; row < rows.rows(); ++row) {
        devices.emplace_back(rows.text(row, 0), rows.text(row, 1));
    }
    return devices;
}

} // namespace perch::store::postgres
