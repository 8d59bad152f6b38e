// The HTTP side of the file API (docs/CHAT.md "Files"): what a request target names, the names
// and types kept from a request, and the JSON answers. Knows no service, no store and no disk.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

#include "gateway/chat/file_service.hpp"

namespace perch::gateway {

/// A file id: 128 random bits, in lowercase hex.
constexpr std::size_t file_id_bytes = 16;

/// True when `text` has the form of a file id (32 lowercase hex digits).
bool is_file_id(std::string_view text);

/// `text` as a standard string_view.
std::string_view to_view(boost::beast::string_view text);

/// The path of a target, without its query.
std::string_view path_of_target(std::string_view target);

/// The value of `key` in the query of `target`, percent-decoded; empty when absent.
std::string query_value(std::string_view target, std::string_view key);

/// A file name safe to keep and to put in a header: no control characters, quotes, backslashes
/// or slashes, at most 255 bytes.
std::string clean_name(std::string_view name);

/// A content type kept as given when it is printable ASCII of at most 255 bytes, else
/// application/octet-stream.
std::string clean_content_type(std::string_view type);

/// A JSON answer to `request` with `status` and `json_text` (one JSON value), not stored by
/// caches, keeping the request's version and keep-alive; HEAD gets the headers only.
file_http_response json_response(const file_http_request& request,
                                 boost::beast::http::status status, std::string_view json_text);

/// `{"error":code,"detail":detail}` with `status`.
file_http_response error_response(const file_http_request& request,
                                  boost::beast::http::status status, std::string_view code,
                                  std::string_view detail);

/// 401 `unauthorized` with the Bearer and Basic challenges.
file_http_response unauthorized(const file_http_request& request, std::string_view detail);

/// 404 `not_found`: the answer to a file that does not exist and to one the user may not read.
file_http_response not_found(const file_http_request& request);

} // namespace perch::gateway
