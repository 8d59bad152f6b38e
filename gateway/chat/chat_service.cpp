// The chat layer: logins, stamping, server-side subscriptions, presence, control requests, and
// the background thread that follows the directory and prunes history.
#include "gateway/chat/chat_service.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <functional>

#include "gateway/chat/chat_policy.hpp"
#include "gateway/chat/chat_topic.hpp"
#include "gateway/chat/device_token.hpp"
#include "gateway/chat/file_service.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway {

namespace {

constexpr std::uint64_t day_ms = 24ULL * 60 * 60 * 1000;

mqtt::subscription_options chat_options(mqtt::qos maximum_qos, bool is_no_local) {
    mqtt::subscription_options options;
    options.maximum_qos = maximum_qos;
    options.is_no_local = is_no_local;
    options.retain_handling_mode = mqtt::retain_handling::send_at_subscribe;
    return options;
}

std::string join_topic(std::initializer_list<std::string_view> levels) {
    std::string topic;
    for (const std::string_view level : levels) {
        if (!topic.empty()) {
            topic += '/';
        }
        topic += level;
    }
    return topic;
}

mqtt::message_ptr make_server_message(std::string topic_name, std::string_view payload,
                                      mqtt::qos qos_level, bool is_retained) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = std::move(topic_name);
    content->payload = mqtt::shared_bytes::copy_of(payload);
    content->qos_level = qos_level;
    content->is_retained = is_retained;
    content->props.payload_format_indicator = 1;
    content->props.content_type = "application/json";
    return content;
}

control_outcome failure(const control_request& request, std::string error) {
    control_outcome outcome;
    outcome.reply.is_ok = false;
    outcome.reply.operation = std::string(to_string(request.operation));
    outcome.reply.error = std::move(error);
    return outcome;
}

control_outcome success(const control_request& request) {
    control_outcome outcome;
    outcome.reply.operation = std::string(to_string(request.operation));
    return outcome;
}

/// The reply to a directory change that ended with `result`.
control_outcome directory_outcome(const control_request& request, store::directory_result result,
                                  const store::store_status& status, std::string_view when_exists,
                                  std::string_view when_missing) {
    switch (result) {
    case store::directory_result::done: break;
    case store::directory_result::already_exists: return failure(request, std::string(when_exists));
    case store::directory_result::not_found: return failure(request, std::string(when_missing));
    case store::directory_result::failed:
        return failure(request, "the store failed: " + status.detail);
    }
    control_outcome outcome = success(request);
    outcome.reply.room = request.room;
    if (!request.user.empty()) {
        outcome.reply.user = request.user;
    }
    return outcome;
}

} // namespace

/// Password checks that may wait at once; past that a login is answered Server busy.
constexpr std::size_t max_waiting_password_checks = 1024;

chat_service::chat_service(std::unique_ptr<store::chat_store> store, chat_settings settings)
    : store_(std::move(store)), settings_(settings),
      history_retention_days_(settings.history_retention_days),
      history_keep_per_conversation_(settings.history_keep_per_conversation),
      password_iterations_(settings.password_iterations),
      ids_(std::make_unique<counter_id_source>(counters_)), login_backoff_(settings.login_backoff),
      password_checks_(password_check_pool::threads_for(std::thread::hardware_concurrency()),
                       max_waiting_password_checks) {
    relay_.set_origin(settings_.gateway_name);
}

chat_service::~chat_service() {
    password_checks_.stop();
    stop();
}

void chat_service::load() {
    directory_.replace(store_->load_directory());
    if (settings_.is_push_enabled) {
        push_subscribers_.load(store_->push_subscribed_devices());
    }
    counters_.seed(store_->conversation_heads());
    if (std::unique_ptr<store::id_allocator> shared = store_->open_id_allocator()) {
        ids_ = std::make_unique<store_id_source>(std::move(shared), counters_);
    }
    // Shared by the gateways on one PostgreSQL database; none on SQLite (no chat across
    // gateways there).
    relay_.set_key(store_->relay_key());
    std::lock_guard lock(stored_cursors_mutex_);
    for (store::session_cursors_record& record : store_->load_session_cursors()) {
        std::string client_id = record.client_id;
        stored_cursors_.insert_or_assign(std::move(client_id), std::move(record));
    }
}

std::optional<store::session_cursors_record>
chat_service::take_stored_cursors(const std::string& client_id) {
    std::lock_guard lock(stored_cursors_mutex_);
    const auto found = stored_cursors_.find(client_id);
    if (found == stored_cursors_.end()) {
        return std::nullopt;
    }
    store::session_cursors_record record = std::move(found->second);
    stored_cursors_.erase(found);
    return record;
}

void chat_service::discard_untaken_cursors() {
    std::lock_guard lock(stored_cursors_mutex_);
    for (const auto& [client_id, record] : stored_cursors_) {
        store_->remove_session_cursors(client_id);
    }
    stored_cursors_.clear();
}

std::vector<std::string> chat_service::conversations_of(std::string_view user) const {
    std::vector<std::string> conversations = counters_.direct_conversations_of(user);
    for (const std::string& room : directory_.rooms_of(user)) {
        conversations.push_back(room_conversation(room));
    }
    return conversations;
}

std::optional<recorded_message> chat_service::stamp_and_record(const mqtt::message_ptr& content,
                                                               std::string_view sender,
                                                               std::uint64_t now_unix_ms,
                                                               recorded_write_completion written,
                                                               recorded_completion later) {
    std::string conversation = conversation_of(parse_chat_topic(content->topic_name));
    if (conversation.empty()) {
        return std::nullopt;
    }
    record_request request;
    request.content = content;
    request.conversation = std::move(conversation);
    request.sender = std::string(sender);
    request.now_unix_ms = now_unix_ms;
    request.written = std::move(written);
    request.later = std::move(later);
    return record_next(std::move(request));
}

std::optional<recorded_message> chat_service::record_next(record_request request) {
    std::mutex& shard =
        record_mutexes_[std::hash<std::string>{}(request.conversation) % record_shards];
    {
        std::lock_guard lock(shard);
        if (const std::optional<std::uint64_t> id = ids_->allocate_now(request.conversation)) {
            return stamp_and_submit(request, *id);
        }
    }
    // From the shared database: completions arrive in request order on the allocator's thread,
    // so a conversation's rows are still submitted in id order.
    std::string conversation = request.conversation;
    ids_->allocate_later(std::move(conversation), [this, &shard, request = std::move(request)](
                                                      std::optional<std::uint64_t> id) mutable {
        if (!id) {
            if (request.later) {
                request.later(std::nullopt);
            }
            return;
        }
        std::optional<recorded_message> recorded;
        {
            std::lock_guard lock(shard);
            recorded = stamp_and_submit(request, *id);
        }
        if (request.later) {
            request.later(std::move(recorded));
        }
    });
    return std::nullopt;
}

recorded_message chat_service::stamp_and_submit(record_request& request, std::uint64_t id) {
    stamped_message stamped = stamp_in(request.content, std::move(request.conversation),
                                       request.sender, request.now_unix_ms, id, request.is_event);
    stamped.record.kind = request.kind;
    stamped.record.of_id = request.of_id;
    stamped.record.change = std::move(request.change);
    recorded_message recorded{stamped.content, stamped.record.conversation, id};
    store::store_completion done;
    if (request.written) {
        done = [recorded, written = std::move(request.written)](const store::store_status& status) {
            written(recorded, status);
        };
    }
    store_->append_history(std::move(stamped.record), std::move(done));
    return recorded;
}

void chat_service::start(std::function<void(std::shared_ptr<const directory_changes>)> apply) {
    apply_ = std::move(apply);
    thread_ = std::thread([this] { run(); });
}

void chat_service::stop() {
    {
        std::lock_guard lock(thread_mutex_);
        is_stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    password_checks_.stop();
    store_->flush();
}

void chat_service::run() {
    std::uint64_t next_prune_unix_ms = unix_now_ms() + 60'000;
    const std::uint64_t sweep_interval_ms = settings_.file_sweep_interval_s * 1000ULL;
    std::uint64_t next_sweep_unix_ms = unix_now_ms() + sweep_interval_ms;
    std::unique_lock lock(thread_mutex_);
    while (!is_stopping_) {
        wake_.wait_for(lock, std::chrono::milliseconds(settings_.reload_interval_ms),
                       [this] { return is_stopping_ || is_reload_requested_; });
        if (is_stopping_) {
            break;
        }
        const bool is_forced = is_reload_requested_;
        is_reload_requested_ = false;
        std::vector<std::function<void()>> after = std::move(after_reload_);
        after_reload_.clear();
        lock.unlock();
        reload_if_changed(is_forced);
        for (const auto& work : after) {
            work();
        }
        if (unix_now_ms() >= next_prune_unix_ms) {
            next_prune_unix_ms = unix_now_ms() + day_ms;
            prune_if_due();
        }
        if (files_ != nullptr && sweep_interval_ms != 0 && unix_now_ms() >= next_sweep_unix_ms) {
            next_sweep_unix_ms = unix_now_ms() + sweep_interval_ms;
            // Bounded work per pass: the next pass takes the rest.
            constexpr std::size_t files_per_sweep = 100;
            files_->sweep(unix_now_ms(), files_per_sweep);
        }
        lock.lock();
    }
    // Requests still waiting get their answer without a reload.
    std::vector<std::function<void()>> after = std::move(after_reload_);
    after_reload_.clear();
    lock.unlock();
    for (const auto& work : after) {
        work();
    }
}

void chat_service::reload_if_changed(bool is_forced) {
    try {
        if (!is_forced && store_->directory_version() == directory_.version()) {
            return;
        }
        auto changes =
            std::make_shared<const directory_changes>(directory_.replace(store_->load_directory()));
        if (!changes->is_empty()) {
            for (const std::string& user : changes->removed_users) {
                // However the user went (a control request, the admin API, `perch user delete`
                // beside the gateway), their Web Push subscriptions went with them in the store.
                push_subscribers_.remove_user(user);
            }
            log_info("chat directory changed: {} joined, {} left, {} user(s) removed, {} "
                     "password(s) changed{}{}",
                     changes->joined.size(), changes->left.size(), changes->removed_users.size(),
                     changes->changed_passwords.size(),
                     changes->are_bans_changed ? ", bans changed" : "",
                     changes->are_acl_rules_changed ? ", acl rules changed" : "");
            if (apply_) {
                apply_(changes);
            }
        }
    } catch (const std::exception& error) {
        log_error("chat directory reload failed: {}", error.what());
    }
}

void chat_service::update_runtime_settings(std::uint32_t history_retention_days,
                                           std::uint32_t history_keep_per_conversation,
                                           std::uint32_t password_iterations) {
    history_retention_days_.store(history_retention_days, std::memory_order_relaxed);
    history_keep_per_conversation_.store(history_keep_per_conversation, std::memory_order_relaxed);
    password_iterations_.store(password_iterations, std::memory_order_relaxed);
}

void chat_service::prune_if_due() {
    const std::uint64_t retention_days = history_retention_days_.load(std::memory_order_relaxed);
    if (retention_days == 0) {
        return;
    }
    const std::uint64_t now = unix_now_ms();
    const std::uint64_t age_ms = retention_days * day_ms;
    store_->prune_history(now > age_ms ? now - age_ms : 0,
                          history_keep_per_conversation_.load(std::memory_order_relaxed));
}

void chat_service::reload_then(std::function<void()> after) {
    {
        std::lock_guard lock(thread_mutex_);
        if (!is_stopping_ && thread_.joinable()) {
            is_reload_requested_ = true;
            after_reload_.push_back(std::move(after));
            after = nullptr;
        }
    }
    if (after) {
        // No background thread (stopped, or never started): reload here.
        reload_if_changed(true);
        after();
        return;
    }
    wake_.notify_all();
}

bool chat_service::check_credentials(std::string_view user, std::string_view password,
                                     const std::string& hash) {
    if (is_device_token(password)) {
        return directory_.has_device_token(user, device_token_hash(password));
    }
    if (!verify_password(password, hash)) {
        return false;
    }
    const std::optional<std::uint32_t> iterations = password_hash_iterations(hash);
    if (iterations && *iterations < password_iterations_.load(std::memory_order_relaxed)) {
        upgrade_password_hash(user, password, hash);
    }
    return true;
}

void chat_service::upgrade_password_hash(std::string_view user, std::string_view password,
                                         const std::string& hash) {
    std::string stronger;
    const std::uint32_t wanted_iterations = password_iterations_.load(std::memory_order_relaxed);
    try {
        stronger = hash_password(password, wanted_iterations);
    } catch (const std::exception& error) {
        log_error("chat: cannot rehash the password of '{}': {}", user, error.what());
        return;
    }
    // Only while the hash is still the one checked: a password changed meanwhile wins.
    store_->upgrade_password_hash(
        std::string(user), hash, std::move(stronger),
        [this, name = std::string(user), wanted_iterations](store::directory_result result,
                                                            const store::store_status& status) {
            if (result == store::directory_result::done) {
                log_info("chat: password hash of '{}' rewritten with {} iterations", name,
                         wanted_iterations);
                // Reloaded at once, so the next login of this user checks the new hash.
                reload_then([] {});
            } else if (result == store::directory_result::failed) {
                log_error("chat: cannot store the rehashed password of '{}': {}", name,
                          status.detail);
            }
        });
}

std::string chat_service::unknown_user_hash() {
    const std::uint32_t iterations = password_iterations_.load(std::memory_order_relaxed);
    std::lock_guard lock(unknown_user_hash_mutex_);
    if (unknown_user_hash_iterations_ != iterations) {
        unknown_user_hash_ = hash_password("perch: a password of no user", iterations);
        unknown_user_hash_iterations_ = iterations;
    }
    return unknown_user_hash_;
}

chat_login_result chat_service::check_login(std::optional<std::string_view> user_name,
                                            std::optional<std::string_view> password,
                                            std::string_view client_id, bool is_identity_verified) {
    bool is_chat_user = false;
    if (user_name) {
        const std::optional<std::string> hash = directory_.password_hash(*user_name);
        if (is_identity_verified) {
            is_chat_user = hash.has_value();
        } else if (!hash) {
            if (password && !is_device_token(*password)) {
                // As costly as a known user's wrong password: the time of the answer must not
                // tell which user names exist.
                verify_password(*password, unknown_user_hash());
            }
            return chat_login_result::bad_credentials;
        } else if (!password || !check_credentials(*user_name, *password, *hash)) {
            return chat_login_result::bad_credentials;
        } else {
            is_chat_user = true;
        }
    }
    const std::string_view owner = client_id.substr(0, client_id.find('/'));
    if (is_chat_user) {
        const bool is_own =
            client_id == *user_name || (owner == *user_name && client_id.size() > owner.size() + 1);
        return is_own ? chat_login_result::chat_user : chat_login_result::client_id_refused;
    }
    if (!owner.empty() && directory_.has_user(owner)) {
        return chat_login_result::client_id_refused;
    }
    return chat_login_result::not_chat_user;
}

std::optional<chat_login_result> chat_service::start_login_check(
    std::optional<std::string> user_name, std::optional<std::string> password,
    std::string client_id, bool is_identity_verified, std::function<void(chat_login_result)> done) {
    // A user name nobody has is checked on the same threads at the same cost (check_login).
    const bool is_costly =
        user_name && !is_identity_verified && password && !is_device_token(*password);
    if (!is_costly) {
        return check_login(user_name, password, client_id, is_identity_verified);
    }
    auto check = [this, user_name = std::move(user_name), password = std::move(password),
                  client_id = std::move(client_id),
                  done]() mutable { done(check_login(user_name, password, client_id, false)); };
    if (!password_checks_.submit(std::move(check))) {
        log_warning("chat: too many logins wait for their password check; answering busy");
        done(chat_login_result::busy);
    }
    return std::nullopt;
}

std::optional<std::string> chat_service::user_of_client_id(std::string_view client_id) const {
    const std::string_view owner = client_id.substr(0, client_id.find('/'));
    if (owner.empty() || !directory_.has_user(owner)) {
        return std::nullopt;
    }
    return std::string(owner);
}

std::optional<stamped_message> chat_service::stamp(const mqtt::message_ptr& content,
                                                   std::string_view sender,
                                                   std::uint64_t now_unix_ms) {
    std::string conversation = conversation_of(parse_chat_topic(content->topic_name));
    if (conversation.empty()) {
        return std::nullopt;
    }
    const std::optional<std::uint64_t> id = ids_->allocate_now(conversation);
    if (!id) {
        return std::nullopt;
    }
    return stamp_in(content, std::move(conversation), sender, now_unix_ms, *id);
}

stamped_message chat_service::stamp_in(const mqtt::message_ptr& content, std::string conversation,
                                       std::string_view sender, std::uint64_t now_unix_ms,
                                       std::uint64_t id, bool is_event) {
    auto stamped = std::make_shared<mqtt::message>(*content);
    auto& user_properties = stamped->props.user_properties;
    std::uint64_t reply_to = 0;
    std::erase_if(user_properties, [is_event, &reply_to](const mqtt::user_property& property) {
        if (property.name == "reply_to") {
            // Kept in history when it is an id; delivered as the client set it either way.
            const auto [end, error] = std::from_chars(
                property.value.data(), property.value.data() + property.value.size(), reply_to);
            if (error != std::errc() || end != property.value.data() + property.value.size()) {
                reply_to = 0;
            }
        }
        return property.name == "id" || property.name == "ts" ||
               (!is_event && (property.name == "event" || property.name == "of"));
    });
    user_properties.push_back({"id", std::to_string(id)});
    user_properties.push_back({"ts", std::to_string(now_unix_ms)});
    stamped_message result;
    result.record.conversation = std::move(conversation);
    result.record.id = id;
    result.record.sender = std::string(sender);
    result.record.topic = content->topic_name;
    result.record.ts_unix_ms = now_unix_ms;
    result.record.reply_to = reply_to;
    const mqtt::byte_view payload = content->payload.view();
    result.record.payload.assign(payload.begin(), payload.end());
    result.content = std::move(stamped);
    return result;
}

std::vector<server_subscription> chat_service::room_subscriptions(std::string_view room) {
    return {
        {join_topic({"chat", "room", room, "+"}), chat_options(mqtt::qos::at_least_once, true)},
        {join_topic({"chat", "signal", "room", room, "+"}),
         chat_options(mqtt::qos::at_most_once, true)},
    };
}

server_subscription chat_service::presence_subscription(std::string_view peer) {
    // QoS 0: presence is state, not a message. An offline session gets none of its changes; it
    // gets the retained presence of its peers when it connects.
    return {join_topic({"chat", "presence", peer}), chat_options(mqtt::qos::at_most_once, false)};
}

std::vector<server_subscription> chat_service::direct_subscriptions(std::string_view user) {
    return {
        {join_topic({"chat", "dm", user, "+"}), chat_options(mqtt::qos::at_least_once, true)},
        {join_topic({"chat", "dm", "+", user}), chat_options(mqtt::qos::at_least_once, true)},
        {join_topic({"chat", "signal", "dm", user, "+"}),
         chat_options(mqtt::qos::at_most_once, true)},
        {join_topic({"chat", "signal", "dm", "+", user}),
         chat_options(mqtt::qos::at_most_once, true)},
    };
}

server_subscription chat_service::control_subscription(std::string_view user) {
    return {join_topic({"chat", "ctl", user, "resp", "#"}),
            chat_options(mqtt::qos::at_least_once, false)};
}

std::vector<server_subscription> chat_service::subscriptions_for(std::string_view user) const {
    std::vector<server_subscription> filters;
    for (const std::string& room : directory_.rooms_of(user)) {
        for (server_subscription& held : room_subscriptions(room)) {
            filters.push_back(std::move(held));
        }
    }
    return filters;
}

bool chat_service::is_server_filter(std::string_view user, std::string_view topic_filter) const {
    const std::vector<std::string_view> levels = split_topic_levels(topic_filter);
    if (levels.size() < 3 || levels[0] != "chat") {
        return false;
    }
    if ((levels[1] == "room" && levels.size() == 4) ||
        (levels[1] == "signal" && levels.size() == 5 && levels[2] == "room")) {
        return levels.back() == "+" && directory_.is_member(levels[levels.size() - 2], user);
    }
    for (const server_subscription& held : subscriptions_for(user)) {
        if (held.topic_filter == topic_filter) {
            return true;
        }
    }
    return false;
}

mqtt::message_ptr chat_service::device_connected(std::string_view user, std::uint64_t device,
                                                 std::uint64_t now_unix_ms) {
    std::size_t devices = 0;
    {
        std::unique_lock lock(presence_mutex_);
        auto found = devices_.find(user);
        if (found == devices_.end()) {
            found = devices_.emplace(std::string(user), std::vector<std::uint64_t>()).first;
        }
        found->second.push_back(device);
        devices = found->second.size();
    }
    if (!settings_.is_presence_enabled) {
        return nullptr;
    }
    return presence_message(user, devices + relay_.remote_device_count(user), now_unix_ms);
}

mqtt::message_ptr chat_service::device_disconnected(std::string_view user, std::uint64_t device,
                                                    std::uint64_t now_unix_ms) {
    std::size_t devices = 0;
    {
        std::unique_lock lock(presence_mutex_);
        const auto found = devices_.find(user);
        if (found == devices_.end()) {
            return nullptr;
        }
        std::vector<std::uint64_t>& held = found->second;
        const auto position = std::find(held.begin(), held.end(), device);
        if (position == held.end()) {
            return nullptr;
        }
        held.erase(position);
        devices = held.size();
        if (devices == 0) {
            // The entry goes with the last device: the table holds only users online now.
            devices_.erase(found);
        }
    }
    if (!settings_.is_presence_enabled) {
        return nullptr;
    }
    return presence_message(user, devices + relay_.remote_device_count(user), now_unix_ms);
}

std::size_t chat_service::connected_device_count(std::string_view user) const {
    std::shared_lock lock(presence_mutex_);
    const auto found = devices_.find(user);
    return found == devices_.end() ? 0 : found->second.size();
}

void chat_service::direct_devices(std::string_view first, std::string_view second,
                                  std::vector<std::uint64_t>& out) const {
    std::shared_lock lock(presence_mutex_);
    for (const std::string_view user : {first, second}) {
        const auto found = devices_.find(user);
        if (found != devices_.end()) {
            out.insert(out.end(), found->second.begin(), found->second.end());
        }
        if (first == second) {
            break; // a user's notes to self: its devices once
        }
    }
}

void chat_service::presence_watchers(std::string_view user, std::vector<std::uint64_t>& out) const {
    const std::vector<std::string> peers = directory_.peers_of(user);
    std::shared_lock lock(presence_mutex_);
    for (const std::string& peer : peers) {
        const auto found = devices_.find(peer);
        if (found != devices_.end()) {
            out.insert(out.end(), found->second.begin(), found->second.end());
        }
    }
}

bool chat_service::says_online(const mqtt::message& presence) {
    return presence.payload.as_string().find(R"("status":"online")") != std::string_view::npos;
}

mqtt::message_ptr chat_service::presence_message(std::string_view user, std::size_t devices,
                                                 std::uint64_t now_unix_ms) {
    return make_server_message(join_topic({"chat", "presence", user}),
                               format_presence(user, devices, now_unix_ms),
                               mqtt::qos::at_least_once, true);
}

bool chat_service::may_read_conversation(std::string_view user,
                                         std::string_view conversation) const {
    const std::vector<std::string_view> levels = split_topic_levels(conversation);
    if (levels.size() == 2 && levels[0] == "room") {
        return directory_.is_member(levels[1], user);
    }
    return levels.size() == 3 && levels[0] == "dm" && (levels[1] == user || levels[2] == user) &&
           directory_.has_user(user);
}

bool chat_service::may_read_message(std::string_view user, std::string_view conversation,
                                    std::uint64_t id) const {
    return may_read_conversation(user, conversation) && id > history_floor(user, conversation);
}

void chat_service::handle_control(std::string user, std::string_view payload,
                                  std::function<void(control_outcome)> done) {
    auto parsed = parse_control_request(payload);
    if (auto* error = std::get_if<control_parse_error>(&parsed)) {
        control_outcome outcome;
        outcome.reply.is_ok = false;
        outcome.reply.operation = error->operation;
        outcome.reply.error = error->message;
        done(std::move(outcome));
        return;
    }
    control_request request = std::get<control_request>(std::move(parsed));
    if (is_room_rule_operation(request.operation)) {
        handle_room_rule(std::move(request), std::move(user), std::move(done));
        return;
    }
    switch (request.operation) {
    case control_operation::history:
        read_history(std::move(request), std::move(user), std::move(done));
        return;
    case control_operation::read:
        mark_read(std::move(request), std::move(user), std::move(done));
        return;
    case control_operation::token:
    case control_operation::revoke_token:
        change_device_token(std::move(request), std::move(user), std::move(done));
        return;
    case control_operation::read_state:
        read_state_of(std::move(user), std::move(request.conversation), std::move(done));
        return;
    case control_operation::edit:
    case control_operation::remove_message:
    case control_operation::react:
    case control_operation::unreact:
        change_message(std::move(request), std::move(user), std::move(done));
        return;
    case control_operation::search:
        search_history(std::move(request), std::move(user), std::move(done));
        return;
    case control_operation::file_token:
        if (files_ == nullptr) {
            done(failure(request, "files are off"));
            return;
        }
        done(files_->issue_token(request, user, unix_now_ms()));
        return;
    case control_operation::push_key:
    case control_operation::push_subscribe:
    case control_operation::push_unsubscribe:
    case control_operation::push_preview:
        handle_push(std::move(request), std::move(user), std::move(done));
        return;
    default: done(failure(request, "unknown op")); return;
    }
}

void chat_service::change_device_token(control_request request, std::string user,
                                       std::function<void(control_outcome)> done) {
    // As for directory changes, the reply follows the reload: a token answered is usable.
    auto finish = [this, request, done = std::move(done)](
                      store::directory_result result, const store::store_status& status,
                      std::optional<std::string> token, std::string_view when_missing) {
        control_outcome outcome = directory_outcome(request, result, status, "", when_missing);
        if (result == store::directory_result::done) {
            outcome.reply.room.reset();
            outcome.reply.device = request.device;
            outcome.reply.token = std::move(token);
        }
        reload_then([done, outcome = std::move(outcome)]() mutable { done(std::move(outcome)); });
    };
    if (request.operation == control_operation::revoke_token) {
        store_->remove_device_token(
            user, request.device,
            [finish](store::directory_result result, const store::store_status& status) {
                finish(result, status, std::nullopt, "no token for this device");
            });
        return;
    }
    std::string token;
    try {
        token = make_device_token();
    } catch (const std::exception& error) {
        done(failure(request, error.what()));
        return;
    }
    store::device_token_record record{std::move(user), request.device, device_token_hash(token),
                                      unix_now_ms()};
    store_->set_device_token(std::move(record),
                             [finish, token = std::move(token)](store::directory_result result,
                                                                const store::store_status& status) {
                                 finish(result, status, token, "no such user");
                             });
}

void chat_service::read_history(control_request request, std::string user,
                                std::function<void(control_outcome)> done) {
    if (!may_read_conversation(user, request.conversation)) {
        done(failure(request, "not allowed to read this conversation"));
        return;
    }
    // In a room whose history is visible from the join only, nothing at or below the member's
    // join point is returned.
    const std::uint64_t floor = history_floor(user, request.conversation);
    store_->history_page(
        request.conversation, request.before_id, request.limit,
        [request, floor, done = std::move(done)](std::vector<store::history_record> page,
                                                 const store::store_status& status) {
            std::erase_if(
                page, [floor](const store::history_record& record) { return record.id <= floor; });
            if (!status.is_ok()) {
                done(failure(request, "the store failed: " + status.detail));
                return;
            }
            control_outcome outcome = success(request);
            outcome.reply.conversation = request.conversation;
            outcome.reply.messages = std::move(page);
            done(std::move(outcome));
        });
}

void chat_service::mark_read(control_request request, std::string user,
                             std::function<void(control_outcome)> done) {
    if (!may_read_conversation(user, request.conversation)) {
        done(failure(request, "not allowed to read this conversation"));
        return;
    }
    // The read signal. In a room, a read receipt on the room's signal topic: every member sees
    // it, the user's own devices included. In a DM, a DM signal to the other party, which the
    // user's devices also receive.
    const std::vector<std::string_view> levels = split_topic_levels(request.conversation);
    std::string signal_topic;
    if (levels[0] == "dm") {
        const std::string_view to = levels[1] == user ? levels[2] : levels[1];
        signal_topic = join_topic({"chat", "signal", "dm", to, user});
    } else {
        signal_topic = join_topic({"chat", "signal", "room", levels[1], user});
    }
    control_outcome outcome = success(request);
    outcome.reply.conversation = request.conversation;
    outcome.reply.id = request.id;
    auto signal = make_server_message(std::move(signal_topic),
                                      format_read_signal(user, request.conversation, request.id),
                                      mqtt::qos::at_most_once, false);
    outcome.signal = std::move(signal);
    store_->set_read_position({user, request.conversation, request.id},
                              [outcome = std::move(outcome), done = std::move(done),
                               request](const store::store_status& status) mutable {
                                  if (!status.is_ok()) {
                                      done(failure(request, "the store failed: " + status.detail));
                                      return;
                                  }
                                  done(std::move(outcome));
                              });
}

} // namespace perch::gateway
