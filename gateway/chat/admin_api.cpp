// The HTTP admin API (docs/ADMIN.md): routing, the endpoints, and the thread that runs them.
#include "gateway/chat/admin_api.hpp"

#include <algorithm>
#include <cctype>
#include <future>
#include <optional>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "gateway/chat/ban_list.hpp"
#include "gateway/chat/device_token.hpp"
#include "gateway/chat/http_login.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/chat_names.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

constexpr std::string_view prefix = "/api/admin";
/// The longest ban reason kept, in bytes.
constexpr std::size_t max_reason_bytes = 500;

std::string_view to_view(boost::beast::string_view text) {
    return {text.data(), text.size()};
}

std::string_view path_of_target(std::string_view target) {
    return target.substr(0, target.find('?'));
}

/// `text` percent-decoded; empty when an escape is malformed.
std::optional<std::string> percent_decoded(std::string_view text) {
    std::string decoded;
    for (std::size_t index = 0; index < text.size(); ++index) {
        if (text[index] != '%') {
            decoded += text[index];
            continue;
        }
        if (index + 2 >= text.size() ||
            std::isxdigit(static_cast<unsigned char>(text[index + 1])) == 0 ||
            std::isxdigit(static_cast<unsigned char>(text[index + 2])) == 0) {
            return std::nullopt;
        }
        decoded +=
            static_cast<char>(std::stoi(std::string(text.substr(index + 1, 2)), nullptr, 16));
        index += 2;
    }
    return decoded;
}

admin_http_response json_response(const admin_http_request& request, http::status status,
                                  const json& body) {
    admin_http_response response{status, request.version()};
    response.set(http::field::server, "perch");
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    response.set("X-Content-Type-Options", "nosniff");
    response.keep_alive(request.keep_alive());
    response.body() = body.dump() + "\n";
    response.prepare_payload();
    return response;
}

admin_http_response error_response(const admin_http_request& request, http::status status,
                                   std::string_view code, std::string_view detail) {
    return json_response(request, status,
                         json{{"error", std::string(code)}, {"detail", std::string(detail)}});
}

admin_http_response method_not_allowed(const admin_http_request& request, std::string_view allow) {
    admin_http_response response =
        error_response(request, http::status::method_not_allowed, "method_not_allowed",
                       "use " + std::string(allow));
    response.set(http::field::allow, std::string(allow));
    return response;
}

admin_http_response not_found(const admin_http_request& request, std::string_view detail) {
    return error_response(request, http::status::not_found, "not_found", detail);
}

admin_http_response bad_request(const admin_http_request& request, std::string_view detail) {
    return error_response(request, http::status::bad_request, "bad_request", detail);
}

/// The body as a JSON object; an empty body is an empty object. Empty when it is not one.
std::optional<json> body_object(const admin_http_request& request) {
    if (request.body().empty()) {
        return json::object();
    }
    json body = json::parse(request.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        return std::nullopt;
    }
    return body;
}

const store::ban_record* user_ban(const ban_list& bans, std::string_view user, std::uint64_t now) {
    return bans.find(ban_subject{user, "", ""}, now);
}

json ban_json(const store::ban_record& ban) {
    return json{{"kind", std::string(to_string(ban.kind))},
                {"value", ban.value},
                {"reason", ban.reason},
                {"created_unix_ms", ban.created_unix_ms},
                {"expires_unix_ms", ban.expires_unix_ms}};
}

} // namespace

bool is_admin_target(std::string_view target) {
    const std::string_view path = path_of_target(target);
    return path == prefix || (path.starts_with(prefix) && path[prefix.size()] == '/');
}

admin_api::admin_api(chat_service& chat, std::function<admin_figures()> figures)
    : chat_(chat), figures_(std::move(figures)) {
    thread_ = std::thread([this] { run(); });
}

admin_api::~admin_api() {
    stop();
}

void admin_api::stop() {
    {
        std::lock_guard lock(queue_mutex_);
        is_stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void admin_api::post(std::function<void()> work) {
    {
        std::lock_guard lock(queue_mutex_);
        if (!is_stopping_) {
            queue_.push_back(std::move(work));
            wake_.notify_one();
            return;
        }
    }
    work();
}

void admin_api::run() {
    std::unique_lock lock(queue_mutex_);
    while (true) {
        wake_.wait(lock, [this] { return is_stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
            return;
        }
        std::function<void()> work = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        work();
        lock.lock();
    }
}

admin_http_response admin_api::too_large(const admin_http_request& request) const {
    return error_response(request, http::status::payload_too_large, "too_large",
                          "a request body may hold at most " + std::to_string(max_body_bytes) +
                              " bytes");
}

void admin_api::handle(admin_http_request request, std::string remote_address,
                       std::function<void(admin_http_response)> done) {
    const std::string authorization(to_view(request[http::field::authorization]));
    const std::string host(host_of_remote_address(remote_address));
    auto shared_request = std::make_shared<admin_http_request>(std::move(request));
    check_basic_login(chat_, authorization, host, [this, shared_request, done](http_login login) {
        const admin_http_request& checked = *shared_request;
        switch (login.outcome) {
        case http_login_outcome::unauthorized: {
            admin_http_response response =
                error_response(checked, http::status::unauthorized, "unauthorized", login.detail);
            response.set(http::field::www_authenticate, R"(Basic realm="perch admin")");
            done(std::move(response));
            return;
        }
        case http_login_outcome::busy:
            done(error_response(checked, http::status::service_unavailable, "busy", login.detail));
            return;
        case http_login_outcome::banned:
            done(error_response(checked, http::status::forbidden, "banned", login.detail));
            return;
        case http_login_outcome::accepted: break;
        }
        post([this, shared_request, done, admin = std::move(login.user)] {
            admin_http_response response;
            try {
                response = serve(*shared_request, admin);
            } catch (const std::exception& error) {
                log_error("admin api: {}", error.what());
                response = error_response(*shared_request, http::status::internal_server_error,
                                          "internal", error.what());
            }
            done(std::move(response));
        });
    });
}

admin_http_response admin_api::serve(const admin_http_request& request, const std::string& admin) {
    if (!chat_.directory().is_admin(admin)) {
        return error_response(request, http::status::forbidden, "forbidden",
                              "'" + admin + "' is not an admin (perch user admin NAME on)");
    }
    const std::string_view path = path_of_target(to_view(request.target()));
    const std::string_view rest = path.substr(std::min(path.size(), prefix.size()));
    const http::verb method = request.method();
    if (rest == "/overview") {
        return method == http::verb::get ? overview(request) : method_not_allowed(request, "GET");
    }
    if (rest == "/users") {
        if (method == http::verb::get) {
            return list_users(request);
        }
        return method == http::verb::post ? create_user(request, admin)
                                          : method_not_allowed(request, "GET, POST");
    }
    if (rest == "/rooms") {
        return method == http::verb::get ? list_rooms(request) : method_not_allowed(request, "GET");
    }
    if (rest == "/bans") {
        return method == http::verb::get ? list_bans(request) : method_not_allowed(request, "GET");
    }
    if (rest == "/audit") {
        return method == http::verb::get ? audit(request) : method_not_allowed(request, "GET");
    }
    for (const std::string_view collection :
         {std::string_view("/users/"), std::string_view("/rooms/")}) {
        if (!rest.starts_with(collection)) {
            continue;
        }
        const std::string_view tail = rest.substr(collection.size());
        const std::size_t slash = tail.find('/');
        const std::optional<std::string> name = percent_decoded(tail.substr(0, slash));
        if (!name || name->empty()) {
            return bad_request(request, "malformed name in the path");
        }
        const std::string_view after =
            slash == std::string_view::npos ? std::string_view() : tail.substr(slash);
        if (collection == "/users/") {
            return serve_user(request, admin, *name, after);
        }
        if (!after.empty()) {
            break;
        }
        if (method != http::verb::delete_) {
            return method_not_allowed(request, "DELETE");
        }
        if (apply({store::directory_change::of_room(store::directory_change::action::remove_room,
                                                    store::room_record{*name, "", 0})},
                  admin, *name, "delete", "") == store::directory_result::not_found) {
            return not_found(request, "no room '" + *name + "'");
        }
        return json_response(request, http::status::ok, json{{"ok", true}});
    }
    return not_found(request, "no such admin endpoint");
}

admin_http_response admin_api::serve_user(const admin_http_request& request,
                                          const std::string& admin, const std::string& name,
                                          std::string_view rest) {
    const http::verb method = request.method();
    if (rest.empty()) {
        if (method != http::verb::delete_) {
            return method_not_allowed(request, "DELETE");
        }
        if (apply({store::directory_change::removing_user(name)}, admin, "", "user_delete", name) ==
            store::directory_result::not_found) {
            return not_found(request, "no user '" + name + "'");
        }
        return json_response(request, http::status::ok, json{{"ok", true}});
    }
    if (rest == "/ban") {
        if (method == http::verb::post) {
            return ban_user(request, admin, name);
        }
        if (method != http::verb::delete_) {
            return method_not_allowed(request, "POST, DELETE");
        }
        const auto result = apply({store::directory_change::of_server_ban(
                                      store::directory_change::action::remove_ban,
                                      store::ban_record{store::ban_kind::user, name, "", 0, 0})},
                                  admin, "", "unban", name);
        if (result == store::directory_result::not_found) {
            return not_found(request, "'" + name + "' is not banned");
        }
        return json_response(request, http::status::ok, json{{"ok", true}});
    }
    if (rest == "/admin") {
        return method == http::verb::put ? set_admin(request, admin, name)
                                         : method_not_allowed(request, "PUT");
    }
    return not_found(request, "no such admin endpoint");
}

admin_http_response admin_api::overview(const admin_http_request& request) {
    const admin_figures figures = figures_();
    const auto now = std::chrono::steady_clock::now();
    double received_rate = 0;
    double sent_rate = 0;
    {
        std::lock_guard lock(rates_mutex_);
        const double elapsed = std::chrono::duration<double>(now - last_sample_at_).count();
        if (last_sample_at_ != std::chrono::steady_clock::time_point{} && elapsed >= 0.5) {
            received_per_second_ =
                static_cast<double>(figures.messages_received - last_received_) / elapsed;
            sent_per_second_ = static_cast<double>(figures.messages_sent - last_sent_) / elapsed;
        }
        if (last_sample_at_ == std::chrono::steady_clock::time_point{} || elapsed >= 0.5) {
            last_sample_at_ = now;
            last_received_ = figures.messages_received;
            last_sent_ = figures.messages_sent;
        }
        received_rate = received_per_second_;
        sent_rate = sent_per_second_;
    }
    const store::chat_directory_snapshot directory = chat_.store().load_directory();
    return json_response(
        request, http::status::ok,
        json{{"uptime_seconds", figures.uptime_seconds},
             {"connections", figures.connections},
             {"sessions", figures.sessions},
             {"messages_received", figures.messages_received},
             {"messages_sent", figures.messages_sent},
             {"messages_received_per_second", received_rate},
             {"messages_sent_per_second", sent_rate},
             {"queued_messages", figures.queued_messages},
             {"queued_bytes", figures.queued_bytes},
             {"output_queue_bytes", figures.output_queue_bytes},
             {"users", directory.users.size()},
             {"rooms", directory.rooms.size()},
             {"store", json{{"healthy", figures.is_store_healthy},
                            {"problem", figures.store_problem},
                            {"pending_operations", figures.store_pending_operations}}}});
}

admin_http_response admin_api::list_users(const admin_http_request& request) {
    const store::chat_directory_snapshot directory = chat_.store().load_directory();
    const std::shared_ptr<const ban_list> bans = chat_.directory().bans();
    const std::uint64_t now = unix_now_ms();
    json users = json::array();
    for (const store::user_record& user : directory.users) {
        users.push_back(json{{"name", user.name},
                             {"admin", user.is_admin},
                             {"banned", user_ban(*bans, user.name, now) != nullptr},
                             {"online", chat_.connected_device_count(user.name) > 0},
                             {"created_unix_ms", user.created_unix_ms}});
    }
    return json_response(request, http::status::ok, json{{"users", std::move(users)}});
}

admin_http_response admin_api::create_user(const admin_http_request& request,
                                           const std::string& admin) {
    const std::optional<json> body = body_object(request);
    if (!body) {
        return bad_request(request, "send a JSON object {\"name\":...,\"password\":...}");
    }
    const auto name = body->find("name");
    const auto password = body->find("password");
    const auto is_admin = body->find("admin");
    if (name == body->end() || !name->is_string() || password == body->end() ||
        !password->is_string() || (is_admin != body->end() && !is_admin->is_boolean())) {
        return bad_request(request, "\"name\" and \"password\" must be strings, \"admin\" a "
                                    "boolean");
    }
    const std::string user = name->get<std::string>();
    const std::string secret = password->get<std::string>();
    if (!is_valid_chat_name(user)) {
        return bad_request(request, "invalid user name");
    }
    if (secret.empty() || is_device_token(secret)) {
        return bad_request(request, "the password is empty or has the form of a device token");
    }
    const bool is_new_admin = is_admin != body->end() && is_admin->get<bool>();
    store::user_record record{user, hash_password(secret, chat_.settings().password_iterations),
                              unix_now_ms(), is_new_admin};
    if (apply({store::directory_change::adding_user(std::move(record))}, admin, "", "user_add",
              user, is_new_admin ? "admin" : "") == store::directory_result::already_exists) {
        return error_response(request, http::status::conflict, "exists",
                              "user '" + user + "' exists");
    }
    return json_response(request, http::status::created, json{{"ok", true}, {"name", user}});
}

admin_http_response admin_api::ban_user(const admin_http_request& request, const std::string& admin,
                                        const std::string& name) {
    const std::optional<json> body = body_object(request);
    if (!body) {
        return bad_request(request, "send a JSON object, e.g. {\"reason\":\"spam\"}");
    }
    const auto reason = body->find("reason");
    const auto seconds = body->find("duration_seconds");
    if ((reason != body->end() && !reason->is_string()) ||
        (seconds != body->end() && (!seconds->is_number_unsigned() ||
                                    seconds->get<std::uint64_t>() > 100ULL * 365 * 86'400))) {
        return bad_request(request, "\"reason\" must be a string, \"duration_seconds\" a "
                                    "positive number of seconds");
    }
    if (!chat_.directory().has_user(name)) {
        return not_found(request, "no user '" + name + "'");
    }
    const std::uint64_t now = unix_now_ms();
    store::ban_record ban{store::ban_kind::user, name, "", now, 0};
    if (reason != body->end()) {
        ban.reason = reason->get<std::string>().substr(0, max_reason_bytes);
    }
    if (seconds != body->end() && seconds->get<std::uint64_t>() != 0) {
        ban.expires_unix_ms = now + seconds->get<std::uint64_t>() * 1000;
    }
    const std::string detail = ban.reason;
    apply({store::directory_change::of_server_ban(store::directory_change::action::add_ban,
                                                  std::move(ban))},
          admin, "", "ban", name, detail);
    return json_response(request, http::status::ok, json{{"ok", true}});
}

admin_http_response admin_api::set_admin(const admin_http_request& request,
                                         const std::string& admin, const std::string& name) {
    const std::optional<json> body = body_object(request);
    const auto flag = body ? body->find("admin") : json::const_iterator();
    if (!body || flag == body->end() || !flag->is_boolean()) {
        return bad_request(request, "send {\"admin\":true} or {\"admin\":false}");
    }
    const bool is_admin = flag->get<bool>();
    if (apply({store::directory_change::setting_admin(name, is_admin)}, admin, "", "admin", name,
              is_admin ? "on" : "off") == store::directory_result::not_found) {
        return not_found(request, "no user '" + name + "'");
    }
    return json_response(request, http::status::ok, json{{"ok", true}, {"admin", is_admin}});
}

admin_http_response admin_api::list_rooms(const admin_http_request& request) {
    const store::chat_directory_snapshot directory = chat_.store().load_directory();
    json rooms = json::array();
    for (const store::room_record& room : directory.rooms) {
        const auto members = std::count_if(
            directory.memberships.begin(), directory.memberships.end(),
            [&](const store::membership_record& member) { return member.room == room.name; });
        rooms.push_back(json{
            {"name", room.name},
            {"display_name", room.display_name},
            {"topic", room.topic},
            {"members", members},
            {"visibility", room.visibility == store::room_visibility::open ? "open" : "invited"}});
    }
    return json_response(request, http::status::ok, json{{"rooms", std::move(rooms)}});
}

admin_http_response admin_api::list_bans(const admin_http_request& request) {
    const std::uint64_t now = unix_now_ms();
    json bans = json::array();
    for (const store::ban_record& ban : chat_.store().load_directory().bans) {
        if (ban.expires_unix_ms == 0 || ban.expires_unix_ms > now) {
            bans.push_back(ban_json(ban));
        }
    }
    return json_response(request, http::status::ok, json{{"bans", std::move(bans)}});
}

admin_http_response admin_api::audit(const admin_http_request& request) {
    json entries = json::array();
    for (const store::audit_record& entry : chat_.store().audit_log("", audit_page)) {
        entries.push_back(json{{"ts_unix_ms", entry.ts_unix_ms},
                               {"room", entry.room},
                               {"actor", entry.actor},
                               {"action", entry.action},
                               {"target", entry.target},
                               {"detail", entry.detail}});
    }
    return json_response(request, http::status::ok, json{{"audit", std::move(entries)}});
}

store::directory_result admin_api::apply(std::vector<store::directory_change> changes,
                                         const std::string& admin, std::string room,
                                         std::string action, std::string target,
                                         std::string detail) {
    changes.push_back(store::directory_change::auditing({0, unix_now_ms(), std::move(room), admin,
                                                         std::move(action), std::move(target),
                                                         std::move(detail)}));
    std::promise<std::pair<store::directory_result, std::string>> written;
    chat_.store().apply_directory_changes(
        std::move(changes),
        [&written](store::directory_result result, std::size_t, const store::store_status& status) {
            written.set_value({result, status.detail});
        });
    const auto [result, problem] = written.get_future().get();
    if (result == store::directory_result::failed) {
        throw std::runtime_error("store write failed: " + problem);
    }
    if (result == store::directory_result::done) {
        // Live sessions follow before the answer: a banned user's sessions are told to end.
        std::promise<void> reloaded;
        chat_.reload_then([&reloaded] { reloaded.set_value(); });
        reloaded.get_future().wait();
    }
    return result;
}

} // namespace perch::gateway
