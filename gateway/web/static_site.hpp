// The web app's files, served by the WebSocket listeners to plain HTTP requests (one origin for
// the app and MQTT over WebSocket). Read into memory from a folder at start and at reload, so a
// request never touches the file system: no path a client sends can reach outside the folder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace perch::gateway {

/// The web app's folder, in memory.
class static_site {
public:
    /// Files larger than this are refused at load.
    static constexpr std::size_t max_file_bytes = 16 * 1024 * 1024;
    /// The whole folder may hold at most this much.
    static constexpr std::size_t max_total_bytes = 64 * 1024 * 1024;

    /// Reads every regular file under `root` (hidden files and folders, whose names start with
    /// '.', are skipped). Text files (HTML, JavaScript, CSS, JSON, SVG, manifests, source maps)
    /// are also kept gzip-compressed when that saves at least a tenth. Throws std::runtime_error
    /// naming the folder or file when it cannot be read or is over the limits above.
    static std::shared_ptr<const static_site> load(const std::filesystem::path& root);

    /// The answer to `request`:
    /// - GET and HEAD only (405 with Allow otherwise); `/` is `/index.html`; a query is ignored;
    ///   an unknown path is 404.
    /// - Content-Type from the file's extension; ETag and If-None-Match (304); files under
    ///   `/assets/` (named by their content's hash by the app's build) are cached for a year,
    ///   every other file is revalidated (no-cache).
    /// - gzip when the client accepts it and the file has a compressed copy (Vary:
    ///   Accept-Encoding).
    /// - On every answer: a strict Content-Security-Policy (same origin only, no inline script,
    ///   WebSocket to the same host), X-Content-Type-Options nosniff, Referrer-Policy
    ///   no-referrer, X-Frame-Options DENY.
    /// Keep-alive follows the request.
    boost::beast::http::response<boost::beast::http::string_body>
    answer(const boost::beast::http::request<boost::beast::http::empty_body>& request) const;

    /// How many files the site holds.
    std::size_t file_count() const { return files_.size(); }

private:
    struct file {
        std::string content;
        /// The gzip-compressed content; empty when not worth keeping.
        std::string gzipped;
        std::string content_type;
        std::string etag;
    };
    std::map<std::string, file, std::less<>> files_;
};

/// The Content-Type for a file name, by its extension; application/octet-stream when unknown.
std::string_view content_type_for(std::string_view file_name);

/// `content` compressed in the gzip format (RFC 1952).
std::string gzip_compress(std::string_view content);

/// The Content-Security-Policy sent with every answer of the site.
inline constexpr std::string_view site_content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' ws: wss:; font-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

} // namespace perch::gateway
