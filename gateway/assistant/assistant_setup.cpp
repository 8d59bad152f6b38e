// Start-up of the assistant bot: API key and directory entries.
#include "gateway/assistant/assistant_setup.hpp"

#include <array>
#include <cstdlib>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway::assistant {

namespace {

/// A secret of 32 random bytes, hex encoded.
std::string random_secret() {
    std::random_device source;
    std::string secret;
    for (int index = 0; index < 32; ++index) {
        secret += fmt::format("{:02x}", static_cast<unsigned>(source() & 0xFF));
    }
    return secret;
}

/// Runs one directory change and waits for its result.
store::directory_result
apply_change(const std::function<void(store::directory_completion)>& change) {
    std::promise<std::pair<store::directory_result, std::string>> promise;
    auto outcome = promise.get_future();
    change([&promise](store::directory_result result, const store::store_status& status) {
        promise.set_value({result, status.is_ok() ? std::string() : status.detail});
    });
    auto [result, problem] = outcome.get();
    if (result == store::directory_result::failed) {
        throw std::runtime_error("assistant: the chat store refused a change: " + problem);
    }
    return result;
}

} // namespace

std::string load_api_key(const assistant_config& config) {
    if (!config.api_key_file.empty()) {
        std::ifstream file(config.api_key_file, std::ios::binary);
        if (!file) {
            throw std::runtime_error(
                fmt::format("assistant_api_key_file: cannot read '{}'", config.api_key_file));
        }
        std::ostringstream contents;
        contents << file.rdbuf();
        std::string key = contents.str();
        if (key.ends_with('\n')) {
            key.pop_back();
            if (key.ends_with('\r')) {
                key.pop_back();
            }
        }
        return key;
    }
    if (!config.api_key_env.empty()) {
        const char* value = std::getenv(config.api_key_env.c_str());
        if (value == nullptr) {
            throw std::runtime_error(
                fmt::format("assistant_api_key_env: the environment variable '{}' is not set",
                            config.api_key_env));
        }
        return value;
    }
    return {};
}

void prepare_bot_user(chat_service& chat, const assistant_config& config) {
    store::chat_store& store = chat.store();
    const chat_directory& directory = chat.directory();
    bool is_changed = false;
    if (!directory.has_user(config.user)) {
        const std::string hash = hash_password(random_secret());
        if (apply_change([&](store::directory_completion done) {
                store.add_user({config.user, hash, unix_now_ms()}, std::move(done));
            }) == store::directory_result::done) {
            log_notice("assistant: created chat user {}", config.user);
            is_changed = true;
        }
    }
    for (const std::string& room : config.rooms) {
        if (!directory.has_room(room)) {
            log_warning("assistant: room '{}' does not exist; {} does not join it (create it with "
                        "`perch room create {}`)",
                        room, config.user, room);
            continue;
        }
        if (directory.is_member(room, config.user)) {
            continue;
        }
        if (apply_change([&](store::directory_completion done) {
                store.add_member({room, config.user}, std::move(done));
            }) == store::directory_result::done) {
            log_notice("assistant: {} joined room {}", config.user, room);
            is_changed = true;
        }
    }
    if (is_changed) {
        std::promise<void> reloaded;
        auto finished = reloaded.get_future();
        chat.reload_then([&reloaded] { reloaded.set_value(); });
        finished.get();
    }
}

} // namespace perch::gateway::assistant
