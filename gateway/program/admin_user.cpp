// `perch user ...`: adding, removing and listing chat users, their passwords and device tokens.
#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "gateway/chat/device_token.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "gateway/program/admin_import.hpp"
#include "gateway/program/admin_session.hpp"

namespace perch::gateway {
namespace {

/// The new password: --password, else twice from the terminal, else one line of input.
std::string read_new_password(const admin_arguments& arguments, admin_io& io) {
    std::string password;
    if (arguments.password) {
        password = *arguments.password;
    } else if (io.read_hidden_line) {
        const auto first = io.read_hidden_line("Password: ");
        if (!first) {
            throw admin_failure("no password given");
        }
        const auto second = io.read_hidden_line("Reenter password: ");
        if (!second || *second != *first) {
            throw admin_failure("the passwords do not match");
        }
        password = *first;
    } else {
        if (!std::getline(io.input, password)) {
            throw admin_failure("no password on standard input");
        }
        if (password.ends_with('\r')) {
            password.pop_back();
        }
    }
    if (password.empty()) {
        throw admin_failure("the password is empty");
    }
    if (is_device_token(password)) {
        // A login with it would be checked against the device tokens only.
        throw admin_failure("the password has the form of a device token (tok:...)");
    }
    return password;
}

} // namespace

void admin_session::user_add(const std::string& name) {
    require_valid_name("user", name);
    const std::string hash =
        hash_password(read_new_password(arguments_, io_), config_.password_iterations);
    const auto result = change_directory([&](store::directory_completion done) {
        store_->add_user(store::user_record{name, hash, unix_now_ms()}, std::move(done));
    });
    if (result == store::directory_result::already_exists) {
        throw admin_failure(fmt::format("user '{}' exists", name));
    }
    io_.output << fmt::format("user '{}' added\n", name);
}

void admin_session::user_del(const std::string& name) {
    const auto result = change_directory(
        [&](store::directory_completion done) { store_->remove_user(name, std::move(done)); });
    if (result == store::directory_result::not_found) {
        throw admin_failure(fmt::format("unknown user '{}'", name));
    }
    io_.output << fmt::format("user '{}' deleted\n", name);
}

void admin_session::user_passwd(const std::string& name) {
    if (!has_user(name)) {
        throw admin_failure(fmt::format("unknown user '{}'", name));
    }
    const std::string hash =
        hash_password(read_new_password(arguments_, io_), config_.password_iterations);
    const auto result = change_directory([&](store::directory_completion done) {
        store_->set_password(name, hash, std::move(done));
    });
    if (result == store::directory_result::not_found) {
        throw admin_failure(fmt::format("unknown user '{}'", name));
    }
    io_.output << fmt::format("password of '{}' changed\n", name);
}

void admin_session::user_tokens(const std::string& name) {
    const auto directory = store_->load_directory();
    if (!std::any_of(directory.users.begin(), directory.users.end(),
                     [&](const store::user_record& user) { return user.name == name; })) {
        throw admin_failure(fmt::format("unknown user '{}'", name));
    }
    for (const auto& token : directory.device_tokens) {
        if (token.user == name) {
            io_.output << fmt::format("{} {}\n", token.device,
                                      format_unix_ms(token.created_unix_ms));
        }
    }
}

void admin_session::user_revoke_token(const std::string& name, const std::string& device) {
    const auto result = change_directory([&](store::directory_completion done) {
        store_->remove_device_token(name, device, std::move(done));
    });
    if (result == store::directory_result::not_found) {
        throw admin_failure(fmt::format("user '{}' has no token for device '{}'", name, device));
    }
    io_.output << fmt::format("token of '{}' on device '{}' revoked\n", name, device);
}

void admin_session::user_list() {
    for (const auto& user : store_->load_directory().users) {
        io_.output << user.name << (user.is_admin ? " admin\n" : "\n");
    }
}

void admin_session::user_admin(const std::string& name, const std::string& state) {
    if (state != "on" && state != "off") {
        throw admin_failure(fmt::format("expected on or off, not '{}'", state));
    }
    const bool is_admin = state == "on";
    if (!has_user(name)) {
        throw admin_failure(fmt::format("unknown user '{}'", name));
    }
    // With an audit entry of no room and no actor, in the same write.
    apply_room_batch({store::directory_change::setting_admin(name, is_admin)}, "", "admin", name,
                     state);
    io_.output << fmt::format("user '{}' is {}\n", name,
                              is_admin ? "an admin" : "no longer an admin");
}

void admin_session::user_import(const std::string& file_name) {
    const auto summary = import_password_file(*store_, file_name, io_.errors);
    io_.output << fmt::format("{}: {} user(s) added, {} updated\n", file_name, summary.added,
                              summary.updated);
}

} // namespace perch::gateway
