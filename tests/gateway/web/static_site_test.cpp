// The web app's files over HTTP: loading a folder, content types, caching, ETag, gzip, the
// security headers, and requests that must find nothing.
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>
#include <boost/crc.hpp>
#include <gtest/gtest.h>

#include "gateway/web/static_site.hpp"

namespace perch::gateway {
namespace {

namespace http = boost::beast::http;

/// A folder holding a small web app, removed at the end.
class site_folder {
public:
    site_folder() {
        root_ = std::filesystem::temp_directory_path() /
                ("perch-site-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        std::filesystem::create_directories(root_ / "assets");
        std::filesystem::create_directories(root_ / ".git");
        std::string page = "<!doctype html><title>perch</title>";
        for (int line = 0; line < 40; ++line) {
            page += "<p>the same paragraph, again and again</p>\n";
        }
        write("index.html", page);
        write("assets/app-1a2b.js", "console.log('hi');");
        write("icon.png", std::string("\x89PNG\r\n\x1a\n", 8));
        write(".git/config", "secret");
        write("notes", "no extension");
    }
    ~site_folder() { std::filesystem::remove_all(root_); }
    site_folder(const site_folder&) = delete;
    site_folder& operator=(const site_folder&) = delete;

    void write(const std::string& name, const std::string& content) {
        std::ofstream(root_ / name, std::ios::binary) << content;
    }
    const std::filesystem::path& root() const { return root_; }

private:
    static inline int counter_ = 0;
    std::filesystem::path root_;
};

http::request<http::empty_body> get(const std::string& target,
                                    http::verb method = http::verb::get) {
    http::request<http::empty_body> request(method, target, 11);
    request.set(http::field::host, "perch.local");
    return request;
}

std::string header(const http::response<http::string_body>& response, http::field field) {
    return std::string(response[field]);
}

/// For the headers this Beast has no field constant for.
std::string header(const http::response<http::string_body>& response, const std::string& name) {
    return std::string(response[name]);
}

/// Inflates a gzip member (header of 10 bytes, no optional fields) and checks its trailer.
std::string gunzip(const std::string& member) {
    namespace zlib = boost::beast::zlib;
    EXPECT_GE(member.size(), 18U);
    EXPECT_EQ(static_cast<unsigned char>(member[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(member[1]), 0x8b);
    zlib::inflate_stream inflater;
    std::string out(1 << 20, '\0');
    zlib::z_params params;
    params.next_in = member.data() + 10;
    params.avail_in = member.size() - 18;
    params.next_out = out.data();
    params.avail_out = out.size();
    boost::system::error_code error;
    inflater.write(params, zlib::Flush::finish, error);
    EXPECT_TRUE(!error || error == zlib::error::end_of_stream) << error.message();
    out.resize(out.size() - params.avail_out);
    boost::crc_32_type crc;
    crc.process_bytes(out.data(), out.size());
    std::uint32_t stored = 0;
    for (int index = 3; index >= 0; --index) {
        stored = (stored << 8) | static_cast<unsigned char>(
                                     member[member.size() - 8 + static_cast<std::size_t>(index)]);
    }
    EXPECT_EQ(stored, crc.checksum());
    return out;
}

TEST(StaticSite, ServesTheIndexAtTheRootWithTypeValidatorAndSecurityHeaders) {
    const site_folder folder;
    const auto site = static_site::load(folder.root());
    EXPECT_EQ(site->file_count(), 4U) << "hidden folders are left out";
    const auto response = site->answer(get("/"));
    EXPECT_EQ(response.result(), http::status::ok);
    EXPECT_EQ(header(response, http::field::content_type), "text/html; charset=utf-8");
    EXPECT_TRUE(response.body().starts_with("<!doctype html>"));
    EXPECT_EQ(header(response, http::field::cache_control), "no-cache");
    EXPECT_FALSE(header(response, http::field::etag).empty());
    EXPECT_EQ(header(response, "Content-Security-Policy"), site_content_security_policy);
    EXPECT_EQ(header(response, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(header(response, "Referrer-Policy"), "no-referrer");
    EXPECT_EQ(header(response, http::field::x_frame_options), "DENY");
    EXPECT_TRUE(response.keep_alive());
    // A query string does not change the file.
    EXPECT_EQ(site->answer(get("/index.html?v=2")).body(), response.body());
}

TEST(StaticSite, HashedAssetsAreCachedForAYearAndTypesFollowTheExtension) {
    const site_folder folder;
    const auto site = static_site::load(folder.root());
    const auto script = site->answer(get("/assets/app-1a2b.js"));
    EXPECT_EQ(script.result(), http::status::ok);
    EXPECT_EQ(header(script, http::field::content_type), "text/javascript; charset=utf-8");
    EXPECT_EQ(header(script, http::field::cache_control), "public, max-age=31536000, immutable");
    EXPECT_EQ(header(site->answer(get("/icon.png")), http::field::content_type), "image/png");
    EXPECT_EQ(header(site->answer(get("/notes")), http::field::content_type),
              "application/octet-stream");
    EXPECT_EQ(content_type_for("APP.CSS"), "text/css; charset=utf-8");
}

TEST(StaticSite, AMatchingIfNoneMatchGets304WithoutABody) {
    const site_folder folder;
    const auto site = static_site::load(folder.root());
    const std::string etag = header(site->answer(get("/")), http::field::etag);
    auto request = get("/");
    request.set(http::field::if_none_match, "\"other\", " + etag);
    const auto response = site->answer(request);
    EXPECT_EQ(response.result(), http::status::not_modified);
    EXPECT_TRUE(response.body().empty());
    EXPECT_EQ(header(response, http::field::etag), etag);
}

TEST(StaticSite, TextIsSentGzippedToClientsThatAcceptIt) {
    const site_folder folder;
    const auto site = static_site::load(folder.root());
    const auto plain = site->answer(get("/"));
    auto request = get("/");
    request.set(http::field::accept_encoding, "br, gzip, deflate");
    const auto compressed = site->answer(request);
    EXPECT_EQ(header(compressed, http::field::content_encoding), "gzip");
    EXPECT_EQ(header(compressed, http::field::vary), "Accept-Encoding");
    EXPECT_LT(compressed.body().size(), plain.body().size() / 2);
    EXPECT_EQ(gunzip(compressed.body()), plain.body());
    EXPECT_EQ(header(plain, http::field::vary), "Accept-Encoding");
    EXPECT_EQ(header(plain, http::field::content_encoding), "");

    request.set(http::field::accept_encoding, "gzip;q=0, identity");
    EXPECT_EQ(header(site->answer(request), http::field::content_encoding), "");
    // Too small to gain anything: never compressed.
    request.set(http::field::accept_encoding, "gzip");
    EXPECT_EQ(header(site->answer(get("/assets/app-1a2b.js")), http::field::content_encoding), "");
}

TEST(StaticSite, HeadAnswersTheLengthWithoutTheBody) {
    const site_folder folder;
    const auto site = static_site::load(folder.root());
    const auto full = site->answer(get("/"));
    const auto head = site->answer(get("/", http::verb::head));
    EXPECT_EQ(head.result(), http::status::ok);
    EXPECT_TRUE(head.body().empty());
    EXPECT_EQ(header(head, http::field::content_length), std::to_string(full.body().size()));
}

TEST(StaticSite, UnknownHiddenAndEscapingPathsFindNothing) {
    const site_folder folder;
    const auto site = static_site::load(folder.root());
    for (const std::string target :
         {"/missing.html", "/.git/config", "/../etc/passwd", "/assets/../index.html", "index.html",
          "/assets", "/%2e%2e/etc/passwd", "//index.html"}) {
        const auto response = site->answer(get(target));
        EXPECT_EQ(response.result(), http::status::not_found) << target;
        EXPECT_EQ(header(response, "Content-Security-Policy"), site_content_security_policy);
    }
}

TEST(StaticSite, OtherMethodsGet405WithAllow) {
    const site_folder folder;
    const auto site = static_site::load(folder.root());
    const auto response = site->answer(get("/", http::verb::post));
    EXPECT_EQ(response.result(), http::status::method_not_allowed);
    EXPECT_EQ(header(response, http::field::allow), "GET, HEAD");
}

TEST(StaticSite, AMissingFolderIsRefusedByName) {
    try {
        static_site::load("/nonexistent/perch-web");
        FAIL() << "loaded a missing folder";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("/nonexistent/perch-web"), std::string::npos);
    }
}

TEST(StaticSite, GzipRoundTripsLargeAndEmptyContent) {
    std::string large;
    for (int index = 0; index < 200'000; ++index) {
        large += static_cast<char>('a' + index % 7);
    }
    EXPECT_EQ(gunzip(gzip_compress(large)), large);
    EXPECT_EQ(gunzip(gzip_compress("")), "");
}

} // namespace
} // namespace perch::gateway
