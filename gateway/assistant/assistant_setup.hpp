// What the broker does for the assistant bot at start: read its API key, and make sure its chat
// user exists and belongs to the configured rooms. Runs on the main thread before the workers.
#pragma once

#include <string>

#include "gateway/common/config.hpp"

namespace perch::gateway {
class chat_service;
} // namespace perch::gateway

namespace perch::gateway::assistant {

/// The API key `config` points at: the contents of api_key_file (one trailing "\n" or "\r\n"
/// removed), else the value of the environment variable api_key_env, else empty. Throws
/// std::runtime_error naming the file or the variable, never the key, when the file cannot be
/// read or the variable is not set.
std::string load_api_key(const assistant_config& config);

/// Creates the bot user when it does not exist (with the hash of a random 32-byte secret that is
/// then forgotten, so nobody can log in with a password), adds it to every configured room that
/// exists (a warning names each one that does not), and waits until the directory shows the
/// change. Directory changes bump the directory version, so live sessions see them. Throws
/// std::runtime_error when the store refuses a change.
void prepare_bot_user(chat_service& chat, const assistant_config& config);

} // namespace perch::gateway::assistant
