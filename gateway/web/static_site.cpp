// The web app's files in memory: loading, gzip at load, and the HTTP answers.
#include "gateway/web/static_site.hpp"

#include <array>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/crc.hpp>
#include <fmt/format.h>

namespace perch::gateway {
namespace http = boost::beast::http;

namespace {

struct known_type {
    std::string_view extension;
    std::string_view type;
    bool is_text;
};

constexpr std::array<known_type, 20> known_types{{
    {".html", "text/html; charset=utf-8", true},
    {".js", "text/javascript; charset=utf-8", true},
    {".mjs", "text/javascript; charset=utf-8", true},
    {".css", "text/css; charset=utf-8", true},
    {".json", "application/json", true},
    {".webmanifest", "application/manifest+json", true},
    {".map", "application/json", true},
    {".svg", "image/svg+xml", true},
    {".txt", "text/plain; charset=utf-8", true},
    {".xml", "application/xml", true},
    {".png", "image/png", false},
    {".jpg", "image/jpeg", false},
    {".jpeg", "image/jpeg", false},
    {".gif", "image/gif", false},
    {".webp", "image/webp", false},
    {".ico", "image/x-icon", false},
    {".woff2", "font/woff2", false},
    {".woff", "font/woff", false},
    {".wasm", "application/wasm", false},
    {".mp3", "audio/mpeg", false},
}};

const known_type* type_of(std::string_view file_name) {
    const auto dot = file_name.rfind('.');
    if (dot == std::string_view::npos) {
        return nullptr;
    }
    const std::string_view extension = file_name.substr(dot);
    for (const known_type& known : known_types) {
        if (extension.size() == known.extension.size() &&
            std::equal(extension.begin(), extension.end(), known.extension.begin(),
                       [](char a, char b) { return std::tolower(a) == b; })) {
            return &known;
        }
    }
    return nullptr;
}

/// A strong validator: FNV-1a over the content, quoted.
std::string etag_of(std::string_view content) {
    std::uint64_t hash = 14695981039346656037ULL;
    for (const char byte : content) {
        hash ^= static_cast<unsigned char>(byte);
        hash *= 1099511628211ULL;
    }
    return fmt::format("\"{:016x}-{:x}\"", hash, content.size());
}

/// Whether a header listing tokens (Accept-Encoding, If-None-Match) names `wanted`, ignoring
/// parameters; a token with q=0 does not count.
bool lists(std::string_view header, std::string_view wanted) {
    while (!header.empty()) {
        const auto comma = header.find(',');
        std::string_view item = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
        const auto semicolon = item.find(';');
        std::string_view parameters =
            semicolon == std::string_view::npos ? std::string_view() : item.substr(semicolon + 1);
        item = item.substr(0, semicolon);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (item != wanted && item != "*") {
            continue;
        }
        while (!parameters.empty() && parameters.front() == ' ') {
            parameters.remove_prefix(1);
        }
        const bool is_refused = parameters.starts_with("q=0") &&
                                parameters.find_first_not_of("0.", 2) == std::string_view::npos;
        if (!is_refused) {
            return true;
        }
    }
    return false;
}

std::string read_whole_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(fmt::format("web_root: cannot read {}", path.string()));
    }
    return std::string(std::istreambuf_iterator<char>(in), {});
}

bool is_hidden(const std::filesystem::path& relative) {
    for (const auto& part : relative) {
        if (part.string().starts_with('.')) {
            return true;
        }
    }
    return false;
}

} // namespace

std::string_view content_type_for(std::string_view file_name) {
    const known_type* known = type_of(file_name);
    return known != nullptr ? known->type : "application/octet-stream";
}

std::string gzip_compress(std::string_view content) {
    namespace zlib = boost::beast::zlib;
    // Beast writes raw deflate (level 6, a 32 KiB window); the gzip frame is added here.
    zlib::deflate_stream deflater;
    std::string out(10, '\0');
    // The gzip header: magic, deflate, no flags, no time, no extra flags, unknown OS.
    constexpr std::array<unsigned char, 10> header{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    std::copy(header.begin(), header.end(), out.begin());
    std::string chunk(64 * 1024, '\0');
    zlib::z_params params;
    params.next_in = content.data();
    params.avail_in = content.size();
    for (;;) {
        params.next_out = chunk.data();
        params.avail_out = chunk.size();
        boost::system::error_code error;
        deflater.write(params, zlib::Flush::finish, error);
        out.append(chunk.data(), chunk.size() - params.avail_out);
        if (error == zlib::error::end_of_stream) {
            break;
        }
        if (error && error != zlib::error::need_buffers) {
            throw std::runtime_error("gzip: " + error.message());
        }
    }
    boost::crc_32_type crc;
    crc.process_bytes(content.data(), content.size());
    const std::uint32_t checksum = crc.checksum();
    const auto size = static_cast<std::uint32_t>(content.size());
    for (int shift = 0; shift < 32; shift += 8) {
        out.push_back(static_cast<char>((checksum >> shift) & 0xff));
    }
    for (int shift = 0; shift < 32; shift += 8) {
        out.push_back(static_cast<char>((size >> shift) & 0xff));
    }
    return out;
}

std::shared_ptr<const static_site> static_site::load(const std::filesystem::path& root) {
    std::error_code error;
    if (!std::filesystem::is_directory(root, error)) {
        throw std::runtime_error(fmt::format("web_root: {} is not a folder", root.string()));
    }
    auto site = std::make_shared<static_site>();
    std::size_t total = 0;
    for (auto entry = std::filesystem::recursive_directory_iterator(root, error);
         !error && entry != std::filesystem::recursive_directory_iterator();
         entry.increment(error)) {
        const auto relative = std::filesystem::relative(entry->path(), root);
        if (is_hidden(relative)) {
            if (entry->is_directory()) {
                entry.disable_recursion_pending();
            }
            continue;
        }
        if (!entry->is_regular_file()) {
            continue;
        }
        const auto size = entry->file_size();
        if (size > max_file_bytes || total + size > max_total_bytes) {
            throw std::runtime_error(
                fmt::format("web_root: {} passes the limit of {} bytes per file and {} in all",
                            entry->path().string(), max_file_bytes, max_total_bytes));
        }
        total += size;
        file served;
        served.content = read_whole_file(entry->path());
        const std::string name = "/" + relative.generic_string();
        const known_type* known = type_of(name);
        served.content_type = known != nullptr ? known->type : "application/octet-stream";
        served.etag = etag_of(served.content);
        if (known != nullptr && known->is_text && served.content.size() >= 256) {
            std::string gzipped = gzip_compress(served.content);
            if (gzipped.size() * 10 <= served.content.size() * 9) {
                served.gzipped = std::move(gzipped);
            }
        }
        site->files_.emplace(name, std::move(served));
    }
    if (error) {
        throw std::runtime_error(
            fmt::format("web_root: cannot read {}: {}", root.string(), error.message()));
    }
    return site;
}

http::response<http::string_body>
static_site::answer(const http::request<http::empty_body>& request) const {
    http::response<http::string_body> response;
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::server, "perch");
    response.set("Content-Security-Policy", std::string(site_content_security_policy));
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Referrer-Policy", "no-referrer");
    response.set(http::field::x_frame_options, "DENY");
    const auto finish_text = [&](http::status status, std::string_view text) {
        response.result(status);
        response.set(http::field::content_type, "text/plain; charset=utf-8");
        response.set(http::field::cache_control, "no-store");
        response.body() = std::string(text) + "\n";
        response.prepare_payload();
        return response;
    };
    const bool is_head = request.method() == http::verb::head;
    if (request.method() != http::verb::get && !is_head) {
        response.set(http::field::allow, "GET, HEAD");
        return finish_text(http::status::method_not_allowed, "method not allowed");
    }
    std::string_view path(request.target().data(), request.target().size());
    path = path.substr(0, path.find_first_of("?#"));
    if (path == "/") {
        path = "/index.html";
    }
    const auto found = files_.find(path);
    if (found == files_.end()) {
        return finish_text(http::status::not_found, "not found");
    }
    const file& served = found->second;
    response.set(http::field::etag, served.etag);
    response.set(http::field::cache_control,
                 path.starts_with("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
    if (!served.gzipped.empty()) {
        response.set(http::field::vary, "Accept-Encoding");
    }
    const auto if_none_match = request[http::field::if_none_match];
    if (lists(std::string_view(if_none_match.data(), if_none_match.size()), served.etag)) {
        response.result(http::status::not_modified);
        return response;
    }
    response.result(http::status::ok);
    response.set(http::field::content_type, served.content_type);
    const auto accepted = request[http::field::accept_encoding];
    const bool is_gzipped = !served.gzipped.empty() &&
                            lists(std::string_view(accepted.data(), accepted.size()), "gzip");
    const std::string& body = is_gzipped ? served.gzipped : served.content;
    if (is_gzipped) {
        response.set(http::field::content_encoding, "gzip");
    }
    if (is_head) {
        response.content_length(body.size());
        return response;
    }
    response.body() = body;
    response.prepare_payload();
    return response;
}

} // namespace perch::gateway
