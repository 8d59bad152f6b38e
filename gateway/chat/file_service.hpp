// Files shared in chat (docs/CHAT.md "Files"): upload and download over HTTP with a file token or
// the user's credentials, size limits and quotas, references from messages, access by the history
// rules, and the sweep that removes files no message references. Knows no socket: a request goes
// in, a response comes out through a callback, so that every listener serves the same code.
//
// Theory of operation. The records of every file (owner and size) are held in memory, loaded at
// start: the quota and the ownership of a referenced id are answered at once on the caller's
// thread. Which messages reference a file is asked of the store when it is downloaded, so a
// reference leaves with its message (op delete, retention) without any bookkeeping here. Disk work
// (writing an upload and its fsync, reading a download, deleting) runs on one file thread, never
// on a worker. Password checks run on the chat layer's password threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/http_login.hpp"
#include "gateway/common/counter.hpp"
#include "gateway/common/http_delegate.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway {

/// The file settings from the configuration.
struct file_settings {
    /// Where the bytes lie: `{data_dir}/files`.
    std::string directory;
    /// The largest file accepted (413 past it).
    std::uint64_t max_file_bytes = 16ULL * 1024 * 1024;
    /// The bytes a user's files may take together (413 past it); 0: no quota.
    std::uint64_t quota_bytes = 256ULL * 1024 * 1024;
    /// How long a file token (op file_token) is good for.
    std::uint32_t token_lifetime_s = 300;
    /// A file no message references is removed once it is this old.
    std::uint32_t unreferenced_grace_s = 3600;
};

/// What the file service counts: any thread.
struct file_counts {
    counter uploads;
    counter downloads;
    counter deletes;
    /// Files removed by the sweep (no message references them).
    counter swept;
    /// Refusals by reason.
    counter refused_unauthorized;
    counter refused_not_found;
    counter refused_too_large;
    counter refused_quota;
    counter refused_bad_request;
    /// Messages refused for naming a file the sender does not own.
    counter refused_references;
    /// The bytes of every file stored now.
    std::atomic<std::uint64_t> stored_bytes{0};
};

using file_http_request = boost::beast::http::request<boost::beast::http::string_body>;
using file_http_response = boost::beast::http::response<boost::beast::http::string_body>;

/// True when `target` (a request target, query included) is one the file service answers:
/// `/files` or `/files/...`.
bool is_file_target(std::string_view target);

/// The ids a chat message payload references: the strings of its top-level "files" array when it
/// is a JSON object holding one; empty when it holds none. An error naming the problem when
/// "files" is not an array of file ids.
std::variant<std::vector<std::string>, std::string> referenced_file_ids(std::string_view payload);

/// The file service. Every member is thread-safe.
class file_service {
public:
    /// Serves files of `chat`'s users from `settings.directory`.
    file_service(chat_service& chat, file_settings settings);
    ~file_service();
    file_service(const file_service&) = delete;
    file_service& operator=(const file_service&) = delete;

    /// Creates the directory (0700) and reads the records. Throws std::runtime_error or
    /// store::store_open_error.
    void load();

    /// Stops the file thread after the work queued (idempotent).
    void stop();

    const file_counts& counts() const { return counts_; }
    /// Applies the limits a reload may change. Any thread.
    void update_limits(std::uint64_t max_file_bytes, std::uint64_t quota_bytes);

    /// The body limit for a request whose target is `target` and method `method`: max_file_bytes
    /// for an upload, `otherwise` for anything else.
    std::size_t body_limit(boost::beast::http::verb method, std::string_view target,
                           std::size_t otherwise) const;

    /// The JSON answer to an upload whose body passed the limit (413).
    file_http_response too_large(const file_http_request& request) const;

    /// Answers `request` (is_file_target) from `remote_address` (`host:port`); `done` runs once,
    /// on any thread.
    void handle(file_http_request request, std::string remote_address,
                std::function<void(file_http_response)> done);

    /// True for the requests whose body begin_upload streams to disk: POST /files.
    static bool is_streamed(boost::beast::http::verb method, std::string_view target);
    /// Starts an upload (POST /files) from its header (`request` has no body yet) from
    /// `remote_address`: the credentials, the size (Content-Length, when given) and the quota are
    /// checked first. `ready` runs once, on any thread: with the sink that writes the body to
    /// disk as it arrives (file_upload.hpp), or with the refusal and a null sink.
    void begin_upload(
        file_http_request request, std::string remote_address,
        std::function<void(std::shared_ptr<http_body_sink>, std::optional<file_http_response>)>
            ready);

    /// The reply to op file_token of `user`: a new token and when it expires.
    control_outcome issue_token(const control_request& request, const std::string& user,
                                std::uint64_t now_unix_ms);

    /// Why `user` may not send a message referencing `ids`: an id that names no file of theirs.
    /// Empty when every id is theirs.
    std::optional<std::string> reference_refusal(std::string_view user,
                                                 const std::vector<std::string>& ids);
    /// Records that message `message_id` of `conversation` references `ids`; submit after the
    /// message's history row.
    void record_references(std::string conversation, std::uint64_t message_id,
                           std::vector<std::string> ids);

    /// Removes up to `limit` files that no message references and that are older than the grace
    /// period at `now_unix_ms`. Returns once the store has answered (the disk work is queued).
    void sweep(std::uint64_t now_unix_ms, std::size_t limit);

    /// The user a file token stands for at `now_unix_ms`, when it is good.
    std::optional<std::string> user_of_token(std::string_view token, std::uint64_t now_unix_ms);

private:
    struct held_file {
        std::string owner;
        std::uint64_t size_bytes = 0;
        std::string content_type;
        std::string name;
        std::string sha256;
    };
    struct held_token {
        std::string user;
        std::uint64_t expires_unix_ms = 0;
    };

    friend class file_upload;

    /// Runs `work` on the file thread.
    void post(std::function<void()> work);
    /// Who sent `request`: `then(user)` once its credentials (and bans) are checked, or
    /// `refuse(answer)`; either runs once, on any thread.
    void authenticate(std::shared_ptr<const file_http_request> request, std::string remote_address,
                      std::function<void(const std::string& user)> then,
                      std::function<void(file_http_response)> refuse);
    /// Reserves `bytes` of `user`'s quota; the refusal (413 quota_exceeded) when they do not fit.
    std::optional<file_http_response> reserve(const file_http_request& request,
                                              const std::string& user, std::uint64_t bytes);
    /// Gives back `bytes` reserved for `user`.
    void release(const std::string& user, std::uint64_t bytes);
    /// A new file's record from an upload's header: a fresh id, the owner, type and name. Throws
    /// std::runtime_error when no id can be made.
    store::file_record new_record(const file_http_request& request, const std::string& user) const;
    /// Commits `record`, whose bytes are on disk at path_of(id) and whose size is reserved; `done`
    /// gets 201, or 507 after the reservation and the bytes went.
    void commit_upload(store::file_record record, unsigned version, bool keep_alive,
                       std::function<void(file_http_response)> done);
    void run();
    /// The request after authentication as `user`.
    void serve(file_http_request request, const std::string& user,
               std::function<void(file_http_response)> done);
    void upload(file_http_request request, const std::string& user,
                std::function<void(file_http_response)> done);
    void download(file_http_request request, const std::string& user, const std::string& id,
                  std::function<void(file_http_response)> done);
    void remove(file_http_request request, const std::string& user, const std::string& id,
                std::function<void(file_http_response)> done);
    /// Forgets the file `id` and deletes its bytes and record.
    void drop(const std::string& id);
    std::string path_of(std::string_view id) const;

    chat_service& chat_;
    file_settings settings_;
    std::atomic<std::uint64_t> max_file_bytes_;
    std::atomic<std::uint64_t> quota_bytes_;
    file_counts counts_;

    /// Guards the members below.
    std::mutex mutex_;
    std::map<std::string, held_file, std::less<>> files_;
    /// Bytes stored (and being written) by owner.
    std::map<std::string, std::uint64_t, std::less<>> used_bytes_;
    /// Token SHA-256 -> token.
    std::map<std::string, held_token, std::less<>> tokens_;

    // The file thread. Lock: queue_mutex_.
    std::mutex queue_mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    bool is_stopping_ = false;
    std::thread thread_;
};

} // namespace perch::gateway
