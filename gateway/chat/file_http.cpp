// The HTTP side of the file API. See the header.
#include "gateway/chat/file_http.hpp"

#include <algorithm>
#include <cctype>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <nlohmann/json.hpp>

namespace perch::gateway {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

constexpr std::string_view hex_digits = "0123456789abcdef";
/// The longest content type and file name kept, in bytes.
constexpr std::size_t max_content_type_bytes = 255;
constexpr std::size_t max_name_bytes = 255;

} // namespace

bool is_file_id(std::string_view text) {
    return text.size() == file_id_bytes * 2 &&
           text.find_first_not_of(hex_digits) == std::string::npos;
}

std::string_view to_view(boost::beast::string_view text) {
    return {text.data(), text.size()};
}

std::string_view path_of_target(std::string_view target) {
    return target.substr(0, target.find('?'));
}

std::string query_value(std::string_view target, std::string_view key) {
    const std::size_t question = target.find('?');
    if (question == std::string_view::npos) {
        return {};
    }
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const std::size_t equals = pair.find('=');
        if (pair.substr(0, equals) != key || equals == std::string_view::npos) {
            continue;
        }
        std::string decoded;
        const std::string_view value = pair.substr(equals + 1);
        for (std::size_t index = 0; index < value.size(); ++index) {
            if (value[index] == '+') {
                decoded += ' ';
            } else if (value[index] == '%' && index + 2 < value.size() &&
                       std::isxdigit(static_cast<unsigned char>(value[index + 1])) != 0 &&
                       std::isxdigit(static_cast<unsigned char>(value[index + 2])) != 0) {
                decoded += static_cast<char>(
                    std::stoi(std::string(value.substr(index + 1, 2)), nullptr, 16));
                index += 2;
            } else {
                decoded += value[index];
            }
        }
        return decoded;
    }
    return {};
}

std::string clean_name(std::string_view name) {
    std::string clean;
    for (const char letter : name) {
        const auto code = static_cast<unsigned char>(letter);
        if (code < 0x20 || code == 0x7f || letter == '"' || letter == '\\' || letter == '/') {
            clean += '_';
        } else {
            clean += letter;
        }
    }
    if (clean.size() > max_name_bytes) {
        clean.resize(max_name_bytes);
    }
    return clean;
}

std::string clean_content_type(std::string_view type) {
    const bool is_printable = std::all_of(
        type.begin(), type.end(), [](char letter) { return letter >= 0x20 && letter < 0x7f; });
    if (type.empty() || !is_printable || type.size() > max_content_type_bytes) {
        return "application/octet-stream";
    }
    return std::string(type);
}

file_http_response json_response(const file_http_request& request, http::status status,
                                 std::string_view json_text) {
    file_http_response response{status, request.version()};
    response.set(http::field::server, "perch");
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    response.set("X-Content-Type-Options", "nosniff");
    response.keep_alive(request.keep_alive());
    const std::string text = std::string(json_text) + "\n";
    if (request.method() != http::verb::head) {
        response.body() = text;
    }
    response.content_length(text.size());
    return response;
}

file_http_response error_response(const file_http_request& request, http::status status,
                                  std::string_view code, std::string_view detail) {
    return json_response(
        request, status,
        json{{"error", std::string(code)}, {"detail", std::string(detail)}}.dump());
}

file_http_response unauthorized(const file_http_request& request, std::string_view detail) {
    file_http_response response =
        error_response(request, http::status::unauthorized, "unauthorized", detail);
    response.set(http::field::www_authenticate, R"(Bearer realm="perch", Basic realm="perch")");
    return response;
}

file_http_response not_found(const file_http_request& request) {
    return error_response(request, http::status::not_found, "not_found",
                          "no such file, or none you may read");
}

} // namespace perch::gateway
