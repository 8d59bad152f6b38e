// The file API (docs/CHAT.md "Files"): authentication, limits, the store's records and
// references, and the file thread that writes, reads and deletes the bytes.
#include "gateway/chat/file_service.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <system_error>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/file_disk.hpp"
#include "gateway/chat/file_http.hpp"
#include "gateway/chat/file_range.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

/// Image types a browser shows inline without running anything (no SVG: it carries script).
constexpr std::array<std::string_view, 4> inline_types = {"image/png", "image/jpeg", "image/gif",
                                                          "image/webp"};

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

std::optional<file_http_response> file_service::reserve(const file_http_request& request,
                                                        const std::string& user,
                                                        std::uint64_t bytes) {
    const std::uint64_t quota = quota_bytes_.load(std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    std::uint64_t& used = used_bytes_[user];
    if (quota != 0 && used + bytes > quota) {
        counts_.refused_quota.add();
        return error_response(request, http::status::payload_too_large, "quota_exceeded",
                              "your files would take " + std::to_string(used + bytes) +
                                  " bytes; the quota is " + std::to_string(quota) +
                                  " bytes (file_quota_bytes)");
    }
    // Reserved now, so that uploads side by side cannot pass the quota together.
    used += bytes;
    return std::nullopt;
}

void file_service::release(const std::string& user, std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    used_bytes_[user] -= bytes;
}

store::file_record file_service::new_record(const file_http_request& request,
                                            const std::string& user) const {
    std::string name = query_value(to_view(request.target()), "name");
    if (name.empty()) {
        name = std::string(to_view(request["X-File-Name"]));
    }
    store::file_record record;
    record.id = random_hex(file_id_bytes);
    record.owner = user;
    record.content_type = clean_content_type(to_view(request[http::field::content_type]));
    record.name = clean_name(name);
    record.created_unix_ms = unix_now_ms();
    return record;
}

void file_service::commit_upload(store::file_record record, unsigned version, bool keep_alive,
                                 std::function<void(file_http_response)> done) {
    chat_.store().add_file(
        record, [this, record, version, keep_alive, done](const store::store_status& status) {
            file_http_request request{http::verb::post, "/files", version};
            request.keep_alive(keep_alive);
            if (!status.is_ok()) {
                release(record.owner, record.size_bytes);
                std::error_code ignored;
                std::filesystem::remove(path_of(record.id), ignored);
                done(error_response(request, http::status::insufficient_storage, "failed",
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
            file_http_response response = json_response(request, http::status::created,
                                                        json{{"id", record.id},
                                                             {"size", record.size_bytes},
                                                             {"content_type", record.content_type},
                                                             {"name", record.name},
                                                             {"sha256", record.sha256}}
                                                            .dump());
            response.set(http::field::location, "/files/" + record.id);
            done(std::move(response));
        });
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
    store::file_record record;
    try {
        record = new_record(request, user);
    } catch (const std::exception& error) {
        done(error_response(request, http::status::internal_server_error, "failed", error.what()));
        return;
    }
    record.size_bytes = size;
    if (std::optional<file_http_response> refusal = reserve(request, user, size)) {
        done(std::move(*refusal));
        return;
    }
    auto shared_request = std::make_shared<file_http_request>(std::move(request));
    post([this, shared_request, record = std::move(record), done = std::move(done)]() mutable {
        try {
            record.sha256 = sha256_hex(shared_request->body());
            write_durably(path_of(record.id), shared_request->body());
        } catch (const std::exception& error) {
            release(record.owner, record.size_bytes);
            log_error("files: cannot store an upload of '{}': {}", record.owner, error.what());
            done(error_response(*shared_request, http::status::insufficient_storage, "failed",
                                "the file could not be stored"));
            return;
        }
        const unsigned version = shared_request->version();
        const bool keep_alive = shared_request->keep_alive();
        // The body is on disk: its memory goes now, not when the store answers.
        shared_request.reset();
        commit_upload(std::move(record), version, keep_alive, std::move(done));
    });
}

namespace {

/// The head of the answer to a GET or HEAD of `file` (id `id`): 304 when If-None-Match names
/// its ETag; else 200 with the whole length, 206 with the range asked (Content-Range) or 416.
/// The bytes to send are `length` bytes from `first`. (`File` is file_service's record.)
template <typename File>
file_http_response download_head(const file_http_request& asked, const std::string& id,
                                 const File& file, std::uint64_t& first, std::uint64_t& length) {
    const std::string etag = "\"" + file.sha256 + "\"";
    file_http_response response{http::status::ok, asked.version()};
    response.set(http::field::server, "perch");
    response.set(http::field::etag, etag);
    response.set(http::field::cache_control, "private, no-cache");
    response.set(http::field::accept_ranges, "bytes");
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Content-Security-Policy", "sandbox");
    response.keep_alive(asked.keep_alive());
    if (to_view(asked[http::field::if_none_match]) == etag) {
        response.result(http::status::not_modified);
        return response;
    }
    response.set(http::field::content_type, file.content_type);
    const bool is_inline = std::find(inline_types.begin(), inline_types.end(), file.content_type) !=
                           inline_types.end();
    const std::string name = file.name.empty() ? id : file.name;
    response.set(http::field::content_disposition,
                 std::string(is_inline ? "inline" : "attachment") + "; filename=\"" + name + "\"");
    // If-Range with another ETag: the file changed since the part the client holds; all of it.
    const std::string_view if_range = to_view(asked[http::field::if_range]);
    file_range range;
    if (if_range.empty() || if_range == etag) {
        range = parse_file_range(to_view(asked[http::field::range]), file.size_bytes);
    }
    switch (range.answer) {
    case file_range::kind::whole:
        response.content_length(file.size_bytes);
        length = file.size_bytes;
        break;
    case file_range::kind::part:
        response.result(http::status::partial_content);
        response.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                                     std::to_string(range.last) + "/" +
                                                     std::to_string(file.size_bytes));
        response.content_length(range.length());
        first = range.first;
        length = range.length();
        break;
    case file_range::kind::unsatisfiable:
        response.result(http::status::range_not_satisfiable);
        response.set(http::field::content_range, "bytes */" + std::to_string(file.size_bytes));
        response.set(http::field::content_type, "text/plain");
        response.erase(http::field::content_disposition);
        response.content_length(0);
        break;
    }
    return response;
}

} // namespace

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
        std::uint64_t first = 0;
        std::uint64_t length = 0;
        file_http_response response = download_head(*shared_request, id, file, first, length);
        const http::status status = response.result();
        if (status == http::status::not_modified || status == http::status::range_not_satisfiable ||
            shared_request->method() == http::verb::head) {
            done(std::move(response));
            return;
        }
        post([this, shared_request, id, first, length, response = std::move(response),
              done]() mutable {
            try {
                response.body() = read_file_bytes(path_of(id), first, length);
            } catch (const std::exception& error) {
                log_error("files: cannot read {}: {}", path_of(id), error.what());
                counts_.refused_not_found.add();
                done(not_found(*shared_request));
                return;
            }
            counts_.downloads.add();
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
