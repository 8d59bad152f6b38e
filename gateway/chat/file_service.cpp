// The file API (docs/CHAT.md "Files"): authentication, limits, the store's records and
// references, and the file thread that writes, reads and deletes the bytes.
#include "gateway/chat/file_service.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <system_error>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/device_token.hpp"
#include "gateway/chat/http_login.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace perch::gateway {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

constexpr std::string_view hex_digits = "0123456789abcdef";
/// A file id: 128 random bits.
constexpr std::size_t id_bytes = 16;
/// A file token: 256 random bits after its prefix.
constexpr std::size_t token_bytes = 32;
constexpr std::string_view token_prefix = "pft_";
/// The longest content type and file name kept, in bytes.
constexpr std::size_t max_content_type_bytes = 255;
constexpr std::size_t max_name_bytes = 255;
/// Tokens issued and still good, at most; past it the oldest expire early.
constexpr std::size_t max_tokens = 100'000;
/// Image types a browser shows inline without running anything (no SVG: it carries script).
constexpr std::array<std::string_view, 4> inline_types = {"image/png", "image/jpeg", "image/gif",
                                                          "image/webp"};

std::string to_hex(const unsigned char* bytes, std::size_t size) {
    std::string text;
    text.reserve(size * 2);
    for (std::size_t index = 0; index < size; ++index) {
        text += hex_digits[bytes[index] >> 4];
        text += hex_digits[bytes[index] & 0x0f];
    }
    return text;
}

std::string random_hex(std::size_t size) {
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        throw std::runtime_error("files: cannot initialise the random generator");
    }
    std::vector<unsigned char> bytes(size);
    const int result = wc_RNG_GenerateBlock(&rng, bytes.data(), static_cast<word32>(size));
    wc_FreeRng(&rng);
    if (result != 0) {
        throw std::runtime_error("files: the random generator failed");
    }
    return to_hex(bytes.data(), bytes.size());
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, WC_SHA256_DIGEST_SIZE> digest{};
    if (wc_Sha256Hash(reinterpret_cast<const byte*>(data.data()), static_cast<word32>(data.size()),
                      digest.data()) != 0) {
        throw std::runtime_error("files: SHA-256 failed");
    }
    return to_hex(digest.data(), digest.size());
}

bool is_file_id(std::string_view text) {
    return text.size() == id_bytes * 2 && text.find_first_not_of(hex_digits) == std::string::npos;
}

std::string_view to_view(boost::beast::string_view text) {
    return {text.data(), text.size()};
}

/// The path of a target, without its query.
std::string_view path_of_target(std::string_view target) {
    return target.substr(0, target.find('?'));
}

/// The value of `key` in the query of `target`, percent-decoded; empty when absent.
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

/// A file name safe to keep and to put in a header: no control characters, quotes, backslashes
/// or slashes, at most max_name_bytes.
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

/// A content type kept as given when it is printable ASCII of a sane length.
std::string clean_content_type(std::string_view type) {
    const bool is_printable = std::all_of(
        type.begin(), type.end(), [](char letter) { return letter >= 0x20 && letter < 0x7f; });
    if (type.empty() || !is_printable || type.size() > max_content_type_bytes) {
        return "application/octet-stream";
    }
    return std::string(type);
}

file_http_response json_response(const file_http_request& request, http::status status,
                                 const json& body) {
    file_http_response response{status, request.version()};
    response.set(http::field::server, "perch");
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    response.set("X-Content-Type-Options", "nosniff");
    response.keep_alive(request.keep_alive());
    const std::string text = body.dump() + "\n";
    if (request.method() != http::verb::head) {
        response.body() = text;
    }
    response.content_length(text.size());
    return response;
}

/// `{"error":code,"detail":detail}` with `status`.
file_http_response error_response(const file_http_request& request, http::status status,
                                  std::string_view code, std::string_view detail) {
    return json_response(request, status,
                         json{{"error", std::string(code)}, {"detail", std::string(detail)}});
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

/// Writes `data` to `path` through a temporary file in the same directory, fsyncs it, renames it
/// into place and fsyncs the directory: the file is whole and durable when this returns.
void write_durably(const std::filesystem::path& path, std::string_view data) {
    const std::filesystem::path temporary = path.string() + ".part";
    const int file = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (file < 0) {
        throw std::system_error(errno, std::generic_category(), "open " + temporary.string());
    }
    std::size_t written = 0;
    while (written < data.size()) {
        const ssize_t result = ::write(file, data.data() + written, data.size() - written);
        if (result < 0) {
            if (errno == EINTR) {
                continue;
            }
            const int error = errno;
            ::close(file);
            ::unlink(temporary.c_str());
            throw std::system_error(error, std::generic_category(), "write " + temporary.string());
        }
        written += static_cast<std::size_t>(result);
    }
    if (::fsync(file) != 0) {
        const int error = errno;
        ::close(file);
        ::unlink(temporary.c_str());
        throw std::system_error(error, std::generic_category(), "fsync " + temporary.string());
    }
    ::close(file);
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(temporary.c_str());
        throw std::system_error(error, std::generic_category(), "rename " + path.string());
    }
    const int directory = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory >= 0) {
        ::fsync(directory);
        ::close(directory);
    }
}

} // namespace

bool is_file_target(std::string_view target) {
    const std::string_view path = path_of_target(target);
    return path == "/files" || path.starts_with("/files/");
}

std::variant<std::vector<std::string>, std::string> referenced_file_ids(std::string_view payload) {
    std::vector<std::string> ids;
    if (payload.find("\"files\"") == std::string_view::npos) {
        // Not JSON naming files: the common case costs one scan.
        return ids;
    }
    const json message = json::parse(payload, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
        return ids;
    }
    const auto files = message.find("files");
    if (files == message.end()) {
        return ids;
    }
    if (!files->is_array()) {
        return std::string("\"files\" must be an array of file ids");
    }
    for (const json& id : *files) {
        if (!id.is_string() || !is_file_id(id.get<std::string>())) {
            return std::string("\"files\" holds something that is not a file id");
        }
        ids.push_back(id.get<std::string>());
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

file_service::file_service(chat_service& chat, file_settings settings)
    : chat_(chat), settings_(std::move(settings)), max_file_bytes_(settings_.max_file_bytes),
      quota_bytes_(settings_.quota_bytes) {
    thread_ = std::thread([this] { run(); });
}

file_service::~file_service() {
    stop();
}

void file_service::load() {
    std::error_code error;
    std::filesystem::create_directories(settings_.directory, error);
    if (error) {
        throw std::runtime_error("cannot create " + settings_.directory + ": " + error.message());
    }
    std::filesystem::permissions(settings_.directory, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, error);
    std::lock_guard lock(mutex_);
    std::uint64_t stored = 0;
    for (store::file_record& record : chat_.store().load_files()) {
        used_bytes_[record.owner] += record.size_bytes;
        stored += record.size_bytes;
        files_.insert_or_assign(record.id,
                                held_file{std::move(record.owner), record.size_bytes,
                                          std::move(record.content_type), std::move(record.name),
                                          std::move(record.sha256)});
    }
    counts_.stored_bytes.store(stored, std::memory_order_relaxed);
}

void file_service::stop() {
    {
        std::lock_guard lock(queue_mutex_);
        is_stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void file_service::post(std::function<void()> work) {
    {
        std::lock_guard lock(queue_mutex_);
        if (!is_stopping_) {
            queue_.push_back(std::move(work));
            work = nullptr;
        }
    }
    if (work) {
        // Stopped: done here, so that every request is answered.
        work();
        return;
    }
    wake_.notify_one();
}

void file_service::run() {
    std::unique_lock lock(queue_mutex_);
    while (true) {
        wake_.wait(lock, [this] { return is_stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
            return;
        }
        std::function<void()> work = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        try {
            work();
        } catch (const std::exception& error) {
            log_error("files: {}", error.what());
        }
        lock.lock();
    }
}

void file_service::update_limits(std::uint64_t max_file_bytes, std::uint64_t quota_bytes) {
    max_file_bytes_.store(max_file_bytes, std::memory_order_relaxed);
    quota_bytes_.store(quota_bytes, std::memory_order_relaxed);
}

std::size_t file_service::body_limit(http::verb method, std::string_view target,
                                     std::size_t otherwise) const {
    if (method == http::verb::post && path_of_target(target) == "/files") {
        return static_cast<std::size_t>(max_file_bytes_.load(std::memory_order_relaxed));
    }
    return otherwise;
}

file_http_response file_service::too_large(const file_http_request& request) const {
    return error_response(request, http::status::payload_too_large, "file_too_large",
                          "a file may hold at most " +
                              std::to_string(max_file_bytes_.load(std::memory_order_relaxed)) +
                              " bytes (file_max_bytes)");
}

std::string file_service::path_of(std::string_view id) const {
    return (std::filesystem::path(settings_.directory) / std::string(id)).string();
}

control_outcome file_service::issue_token(const control_request& request, const std::string& user,
                                          std::uint64_t now_unix_ms) {
    control_outcome outcome;
    outcome.reply.operation = std::string(to_string(request.operation));
    std::string token;
    try {
        token = std::string(token_prefix) + random_hex(token_bytes);
    } catch (const std::exception& error) {
        outcome.reply.is_ok = false;
        outcome.reply.error = error.what();
        return outcome;
    }
    const std::uint64_t expires = now_unix_ms + settings_.token_lifetime_s * 1000ULL;
    {
        std::lock_guard lock(mutex_);
        std::erase_if(tokens_, [now_unix_ms](const auto& held) {
            return held.second.expires_unix_ms <= now_unix_ms;
        });
        if (tokens_.size() >= max_tokens) {
            tokens_.erase(
                std::min_element(tokens_.begin(), tokens_.end(), [](const auto& a, const auto& b) {
                    return a.second.expires_unix_ms < b.second.expires_unix_ms;
                }));
        }
        tokens_.insert_or_assign(device_token_hash(token), held_token{user, expires});
    }
    outcome.reply.token = std::move(token);
    outcome.reply.extra_json = json{{"expires_at", expires}}.dump();
    return outcome;
}

std::optional<std::string> file_service::user_of_token(std::string_view token,
                                                       std::uint64_t now_unix_ms) {
    if (!token.starts_with(token_prefix)) {
        return std::nullopt;
    }
    const std::string hash = device_token_hash(token);
    std::lock_guard lock(mutex_);
    const auto found = tokens_.find(hash);
    if (found == tokens_.end() || found->second.expires_unix_ms <= now_unix_ms) {
        return std::nullopt;
    }
    return found->second.user;
}

std::optional<std::string> file_service::reference_refusal(std::string_view user,
                                                           const std::vector<std::string>& ids) {
    std::lock_guard lock(mutex_);
    for (const std::string& id : ids) {
        const auto found = files_.find(id);
        if (found == files_.end() || found->second.owner != user) {
            counts_.refused_references.add();
            return "no file " + id + " of yours";
        }
    }
    return std::nullopt;
}

void file_service::record_references(std::string conversation, std::uint64_t message_id,
                                     std::vector<std::string> ids) {
    chat_.store().add_file_references(std::move(conversation), message_id, std::move(ids));
}

void file_service::handle(file_http_request request, std::string remote_address,
                          std::function<void(file_http_response)> done) {
    const std::string_view authorization = to_view(request[http::field::authorization]);
    const std::string host(host_of_remote_address(remote_address));
    if (authorization.starts_with("Bearer ")) {
        const std::uint64_t now = unix_now_ms();
        const std::optional<std::string> user =
            user_of_token(authorization.substr(std::string_view("Bearer ").size()), now);
        if (!user || !chat_.directory().has_user(*user)) {
            counts_.refused_unauthorized.add();
            done(unauthorized(request, "the file token is unknown or expired"));
            return;
        }
        if (auto refusal = ban_refusal(chat_, *user, host, now)) {
            counts_.refused_unauthorized.add();
            done(error_response(request, http::status::forbidden, "banned", *refusal));
            return;
        }
        serve(std::move(request), *user, std::move(done));
        return;
    }
    if (!authorization.starts_with("Basic ")) {
        counts_.refused_unauthorized.add();
        done(unauthorized(request, "send a file token (Bearer) or your user name and password "
                                   "(Basic)"));
        return;
    }
    auto shared_request = std::make_shared<file_http_request>(std::move(request));
    check_basic_login(chat_, authorization, host,
                      [this, shared_request, done = std::move(done)](http_login login) {
                          answer_login(std::move(*shared_request), std::move(login), done);
                      });
}

void file_service::answer_login(file_http_request request, http_login login,
                                const std::function<void(file_http_response)>& done) {
    switch (login.outcome) {
    case http_login_outcome::accepted: serve(std::move(request), login.user, done); return;
    case http_login_outcome::busy:
        done(error_response(request, http::status::service_unavailable, "busy", login.detail));
        return;
    case http_login_outcome::banned:
        counts_.refused_unauthorized.add();
        done(error_response(request, http::status::forbidden, "banned", login.detail));
        return;
    case http_login_outcome::unauthorized:
        counts_.refused_unauthorized.add();
        done(unauthorized(request, login.detail));
        return;
    }
}

void file_service::serve(file_http_request request, const std::string& user,
                         std::function<void(file_http_response)> done) {
    const std::string_view path = path_of_target(to_view(request.target()));
    if (path == "/files") {
        if (request.method() != http::verb::post) {
            file_http_response response = error_response(request, http::status::method_not_allowed,
                                                         "method_not_allowed", "POST a file");
            response.set(http::field::allow, "POST");
            done(std::move(response));
            return;
        }
        upload(std::move(request), user, std::move(done));
        return;
    }
    const std::string id(path.substr(std::string_view("/files/").size()));
    if (!is_file_id(id)) {
        counts_.refused_not_found.add();
        done(not_found(request));
        return;
    }
    switch (request.method()) {
    case http::verb::get:
    case http::verb::head: download(std::move(request), user, id, std::move(done)); return;
    case http::verb::delete_: remove(std::move(request), user, id, std::move(done)); return;
    default: {
        file_http_response response =
            error_response(request, http::status::method_not_allowed, "method_not_allowed",
                           "GET, HEAD or DELETE a file");
        response.set(http::field::allow, "GET, HEAD, DELETE");
        done(std::move(response));
        return;
    }
    }
}

void file_service::upload(file_http_request request, const std::string& user,
                          std::function<void(file_http_response)> done) {
    const std::uint64_t size = request.body().size();
    if (size > max_file_bytes_.load(std::memory_order_relaxed)) {
        counts_.refused_too_large.add();
        done(too_large(request));
        return;
    }
    if (size == 0) {
        counts_.refused_bad_request.add();
        done(error_response(request, http::status::bad_request, "empty_file",
                            "the request body is the file; it is empty"));
        return;
    }
    const std::uint64_t quota = quota_bytes_.load(std::memory_order_relaxed);
    std::string id;
    try {
        id = random_hex(id_bytes);
    } catch (const std::exception& error) {
        done(error_response(request, http::status::internal_server_error, "failed", error.what()));
        return;
    }
    {
        std::lock_guard lock(mutex_);
        std::uint64_t& used = used_bytes_[user];
        if (quota != 0 && used + size > quota) {
            counts_.refused_quota.add();
            done(error_response(request, http::status::payload_too_large, "quota_exceeded",
                                "your files would take " + std::to_string(used + size) +
                                    " bytes; the quota is " + std::to_string(quota) +
                                    " bytes (file_quota_bytes)"));
            return;
        }
        // Reserved now, so that uploads side by side cannot pass the quota together.
        used += size;
    }
    std::string name = query_value(to_view(request.target()), "name");
    if (name.empty()) {
        name = std::string(to_view(request["X-File-Name"]));
    }
    store::file_record record;
    record.id = std::move(id);
    record.owner = user;
    record.size_bytes = size;
    record.content_type = clean_content_type(to_view(request[http::field::content_type]));
    record.name = clean_name(name);
    record.created_unix_ms = unix_now_ms();
    auto shared_request = std::make_shared<file_http_request>(std::move(request));
    post([this, shared_request, record = std::move(record), done = std::move(done)]() mutable {
        // Gives back the reservation; copied into the store's completion, so it holds copies.
        auto release = [this, owner = record.owner, size = record.size_bytes] {
            std::lock_guard lock(mutex_);
            used_bytes_[owner] -= size;
        };
        try {
            record.sha256 = sha256_hex(shared_request->body());
            write_durably(path_of(record.id), shared_request->body());
        } catch (const std::exception& error) {
            release();
            log_error("files: cannot store an upload of '{}': {}", record.owner, error.what());
            done(error_response(*shared_request, http::status::insufficient_storage, "failed",
                                "the file could not be stored"));
            return;
        }
        // The body is on disk: its memory goes now, not when the store answers.
        shared_request->body().clear();
        shared_request->body().shrink_to_fit();
        chat_.store().add_file(record, [this, shared_request, record, release,
                                        done](const store::store_status& status) {
            if (!status.is_ok()) {
                release();
                std::error_code ignored;
                std::filesystem::remove(path_of(record.id), ignored);
                done(error_response(*shared_request, http::status::insufficient_storage, "failed",
                                    "the store failed: " + status.detail));
                return;
            }
            {
                std::lock_guard lock(mutex_);
                files_.insert_or_assign(record.id,
                                        held_file{record.owner, record.size_bytes,
                                                  record.content_type, record.name, record.sha256});
            }
            counts_.uploads.add();
            counts_.stored_bytes.fetch_add(record.size_bytes, std::memory_order_relaxed);
            file_http_response response = json_response(*shared_request, http::status::created,
                                                        json{{"id", record.id},
                                                             {"size", record.size_bytes},
                                                             {"content_type", record.content_type},
                                                             {"name", record.name},
                                                             {"sha256", record.sha256}});
            response.set(http::field::location, "/files/" + record.id);
            done(std::move(response));
        });
    });
}

void file_service::download(file_http_request request, const std::string& user,
                            const std::string& id, std::function<void(file_http_response)> done) {
    std::optional<held_file> file;
    {
        std::lock_guard lock(mutex_);
        const auto found = files_.find(id);
        if (found != files_.end()) {
            file = found->second;
        }
    }
    if (!file) {
        counts_.refused_not_found.add();
        done(not_found(request));
        return;
    }
    auto shared_request = std::make_shared<file_http_request>(std::move(request));
    auto send = [this, shared_request, id, file = *file, done] {
        const file_http_request& asked = *shared_request;
        const std::string etag = "\"" + file.sha256 + "\"";
        file_http_response response{http::status::ok, asked.version()};
        response.set(http::field::server, "perch");
        response.set(http::field::etag, etag);
        response.set(http::field::cache_control, "private, no-cache");
        response.set("X-Content-Type-Options", "nosniff");
        response.set("Content-Security-Policy", "sandbox");
        response.keep_alive(asked.keep_alive());
        if (to_view(asked[http::field::if_none_match]) == etag) {
            response.result(http::status::not_modified);
            done(std::move(response));
            return;
        }
        response.set(http::field::content_type, file.content_type);
        const bool is_inline = std::find(inline_types.begin(), inline_types.end(),
                                         file.content_type) != inline_types.end();
        const std::string name = file.name.empty() ? id : file.name;
        response.set(http::field::content_disposition,
                     std::string(is_inline ? "inline" : "attachment") + "; filename=\"" + name +
                         "\"");
        if (asked.method() == http::verb::head) {
            response.content_length(file.size_bytes);
            done(std::move(response));
            return;
        }
        post([this, shared_request, id, response = std::move(response), done]() mutable {
            std::error_code error;
            const std::uintmax_t size = std::filesystem::file_size(path_of(id), error);
            std::string body;
            if (!error) {
                body.resize(static_cast<std::size_t>(size));
                const int file = ::open(path_of(id).c_str(), O_RDONLY | O_CLOEXEC);
                std::size_t read_bytes = 0;
                while (file >= 0 && read_bytes < body.size()) {
                    const ssize_t result =
                        ::read(file, body.data() + read_bytes, body.size() - read_bytes);
                    if (result <= 0) {
                        break;
                    }
                    read_bytes += static_cast<std::size_t>(result);
                }
                if (file >= 0) {
                    ::close(file);
                }
                if (file < 0 || read_bytes != body.size()) {
                    error = std::make_error_code(std::errc::io_error);
                }
            }
            if (error) {
                log_error("files: cannot read {}: {}", path_of(id), error.message());
                counts_.refused_not_found.add();
                done(not_found(*shared_request));
                return;
            }
            counts_.downloads.add();
            response.body() = std::move(body);
            response.prepare_payload();
            done(std::move(response));
        });
    };
    if (file->owner == user) {
        send();
        return;
    }
    // Readable through any message that references it and that the user may read now.
    chat_.store().file_references(
        id, [this, shared_request, user, send, done](std::vector<store::file_reference> references,
                                                     const store::store_status& status) {
            const bool may_read =
                status.is_ok() &&
                std::any_of(references.begin(), references.end(),
                            [&](const store::file_reference& reference) {
                                return chat_.may_read_message(user, reference.conversation,
                                                              reference.message_id);
                            });
            if (!may_read) {
                counts_.refused_not_found.add();
                done(not_found(*shared_request));
                return;
            }
            send();
        });
}

void file_service::remove(file_http_request request, const std::string& user, const std::string& id,
                          std::function<void(file_http_response)> done) {
    {
        std::lock_guard lock(mutex_);
        const auto found = files_.find(id);
        if (found == files_.end() || found->second.owner != user) {
            counts_.refused_not_found.add();
            done(not_found(request));
            return;
        }
    }
    drop(id);
    counts_.deletes.add();
    file_http_response response{http::status::no_content, request.version()};
    response.set(http::field::server, "perch");
    response.keep_alive(request.keep_alive());
    done(std::move(response));
}

void file_service::drop(const std::string& id) {
    {
        std::lock_guard lock(mutex_);
        const auto found = files_.find(id);
        if (found == files_.end()) {
            return;
        }
        used_bytes_[found->second.owner] -= found->second.size_bytes;
        counts_.stored_bytes.fetch_sub(found->second.size_bytes, std::memory_order_relaxed);
        files_.erase(found);
    }
    chat_.store().remove_file(id);
    post([this, id] {
        std::error_code ignored;
        std::filesystem::remove(path_of(id), ignored);
    });
}

void file_service::sweep(std::uint64_t now_unix_ms, std::size_t limit) {
    const std::uint64_t grace_ms = settings_.unreferenced_grace_s * 1000ULL;
    const std::uint64_t before = now_unix_ms > grace_ms ? now_unix_ms - grace_ms : 0;
    std::promise<void> answered;
    chat_.store().unreferenced_files(
        before, limit,
        [this, &answered](std::vector<std::string> ids, const store::store_status& status) {
            if (!status.is_ok()) {
                log_error("files: cannot list the files to remove: {}", status.detail);
            }
            for (const std::string& id : ids) {
                drop(id);
                counts_.swept.add();
            }
            answered.set_value();
        });
    answered.get_future().wait();
}

} // namespace perch::gateway
