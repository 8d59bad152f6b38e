// Gateway names: checked when configured, derived when not.
#include "gateway/common/gateway_name.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include <unistd.h>

namespace perch::gateway {
namespace {

bool is_name_character(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/// FNV-1a, 32 bits: stable across builds and platforms (std::hash is not).
std::uint32_t stable_hash(std::string_view text) {
    std::uint32_t hash = 2166136261U;
    for (const char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 16777619U;
    }
    return hash;
}

} // namespace

std::optional<std::string> gateway_name_problem(std::string_view name) {
    if (name.empty() || name.size() > 64 ||
        !std::all_of(name.begin(), name.end(), is_name_character)) {
        return fmt::format("the name '{}' must be 1 to 64 letters, digits, '-', '_' or '.'", name);
    }
    return std::nullopt;
}

std::string effective_gateway_name(std::string_view configured, std::string_view data_dir) {
    if (!configured.empty()) {
        return std::string(configured);
    }
    std::array<char, 256> host{};
    std::string name;
    if (::gethostname(host.data(), host.size() - 1) == 0) {
        for (const char* c = host.data(); *c != '\0' && name.size() < 40; ++c) {
            if (is_name_character(*c)) {
                name += *c;
            }
        }
    }
    if (name.empty()) {
        name = "perch";
    }
    std::error_code error;
    std::filesystem::path path = std::filesystem::absolute(std::string(data_dir), error);
    const std::string absolute = error ? std::string(data_dir) : path.lexically_normal().string();
    return fmt::format("{}-{:08x}", name, stable_hash(absolute));
}

} // namespace perch::gateway
