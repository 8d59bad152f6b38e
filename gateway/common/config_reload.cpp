// What a reload (SIGHUP) cannot apply to a running gateway: the keys whose change needs a
// restart (docs/OPERATIONS.md "Reload").
#include <algorithm>

#include "gateway/common/config.hpp"

namespace perch::gateway {

namespace {

/// `listener` without what a reload applies to it in place (its TLS context's inputs).
listener_config without_tls_files(listener_config listener) {
    listener.certfile.clear();
    listener.keyfile.clear();
    listener.cafile.clear();
    listener.require_certificate = false;
    listener.use_identity_as_username = false;
    return listener;
}

} // namespace

std::vector<std::string> keys_needing_restart(const broker_config& running,
                                              const broker_config& wanted) {
    std::vector<std::string> keys;
    const auto check = [&keys](std::string_view key, bool is_changed) {
        if (is_changed) {
            keys.emplace_back(key);
        }
    };
    const bool same_sockets =
        running.listeners.size() == wanted.listeners.size() &&
        std::equal(running.listeners.begin(), running.listeners.end(), wanted.listeners.begin(),
                   [](const listener_config& left, const listener_config& right) {
                       return without_tls_files(left) == without_tls_files(right);
                   });
    check("listener", !same_sockets);
    check("workers", running.workers != wanted.workers);
    check("persistence", running.persistence != wanted.persistence);
    check("data_dir", running.data_dir != wanted.data_dir);
    check("durability", running.durability != wanted.durability);
    check("chat_store", running.chat_store != wanted.chat_store);
    check("postgresql_conninfo", running.postgresql_conninfo != wanted.postgresql_conninfo);
    check("gateway_name", running.gateway_name != wanted.gateway_name);
    check("commit_interval_ms", running.commit_interval_ms != wanted.commit_interval_ms);
    check("max_batch_operations", running.max_batch_operations != wanted.max_batch_operations);
    check("chat_commit_interval_ms",
          running.chat_commit_interval_ms != wanted.chat_commit_interval_ms);
    check("max_stored_messages", running.max_stored_messages != wanted.max_stored_messages);
    check("max_stored_bytes", running.max_stored_bytes != wanted.max_stored_bytes);
    check("max_database_bytes", running.max_database_bytes != wanted.max_database_bytes);
    check("presence", running.presence != wanted.presence);
    check("chat_reload_interval_ms",
          running.chat_reload_interval_ms != wanted.chat_reload_interval_ms);
    check("chat_cursor_interval_s",
          running.chat_cursor_interval_s != wanted.chat_cursor_interval_s);
    check("signal_expiry_s", running.signal_expiry_s != wanted.signal_expiry_s);
    check("chat_delete_window_s", running.chat_delete_window_s != wanted.chat_delete_window_s);
    check("chat_search", running.chat_search != wanted.chat_search);
    check("file_token_lifetime_s", running.file_token_lifetime_s != wanted.file_token_lifetime_s);
    check("file_unreferenced_grace_s",
          running.file_unreferenced_grace_s != wanted.file_unreferenced_grace_s);
    check("file_sweep_interval_s", running.file_sweep_interval_s != wanted.file_sweep_interval_s);
    check("push", running.push != wanted.push);
    check("push_contact", running.push_contact != wanted.push_contact);
    check("push_ttl_seconds", running.push_ttl_seconds != wanted.push_ttl_seconds);
    check("push_allow_insecure_endpoints",
          running.push_allow_insecure_endpoints != wanted.push_allow_insecure_endpoints);
    check("push_cafile", running.push_cafile != wanted.push_cafile);
    const assistant_config& was = running.assistant;
    const assistant_config& now = wanted.assistant;
    check("assistant_endpoint", was.endpoint != now.endpoint);
    check("assistant_model", was.model != now.model);
    check("assistant_api_key_env", was.api_key_env != now.api_key_env);
    check("assistant_api_key_file", was.api_key_file != now.api_key_file);
    check("assistant_user", was.user != now.user);
    check("assistant_system_prompt", was.system_prompt != now.system_prompt);
    check("assistant_rooms", was.rooms != now.rooms);
    check("assistant_context_messages", was.context_messages != now.context_messages);
    check("assistant_timeout_ms", was.timeout_ms != now.timeout_ms);
    check("assistant_max_tokens", was.max_tokens != now.max_tokens);
    check("assistant_stream", was.is_streamed != now.is_streamed);
    check("assistant_typing_interval_ms", was.typing_interval_ms != now.typing_interval_ms);
    check("assistant_user_rate", was.user_rate_per_minute != now.user_rate_per_minute ||
                                     was.user_rate_burst != now.user_rate_burst);
    check("assistant_global_rate", was.global_rate_per_minute != now.global_rate_per_minute ||
                                       was.global_rate_burst != now.global_rate_burst);
    check("assistant_max_concurrent", was.max_concurrent != now.max_concurrent);
    check("assistant_cafile", was.cafile != now.cafile);
    return keys;
}

} // namespace perch::gateway
