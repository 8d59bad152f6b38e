// One upload written to disk as its body arrives (docs/CHAT.md "Files"): the bytes go to a
// temporary file `{id}.part` on the file thread, a piece at a time, hashed on the way; the size
// limit and the quota are checked before the first byte (Content-Length, when given) and as
// bytes arrive; once the body is complete the file is fsynced, renamed into place, the directory
// fsynced and the record committed before the 201. On any failure, and on abort, the temporary
// file is removed and the reservation given back. Knows no socket: the listeners feed it through
// http_body_sink (gateway/common/http_body_stream.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "gateway/chat/file_service.hpp"
#include "gateway/common/http_delegate.hpp"

namespace perch::gateway {

/// An upload in progress. write/finish/abort come from one listener thread, one at a time; the
/// disk work runs on the file service's file thread, in order.
class file_upload final : public http_body_sink, public std::enable_shared_from_this<file_upload> {
public:
    /// An upload of `record` (id, owner, type and name set) whose header is `header`;
    /// `reserved_bytes` of the owner's quota are already reserved (its Content-Length).
    file_upload(file_service& service, store::file_record record, file_http_request header,
                std::uint64_t reserved_bytes);
    ~file_upload() override;
    file_upload(const file_upload&) = delete;
    file_upload& operator=(const file_upload&) = delete;

    void write(std::string bytes,
               std::function<void(std::optional<http_response>)> written) override;
    void finish(std::function<void(http_response)> done) override;
    void abort() override;

private:
    /// On the listener's thread, when write() refuses the body: gives back the reservation at
    /// once, then discards the file as abort() does.
    void refuse_now();
    /// On the file thread: opens the temporary file when it is not open yet; false on failure.
    bool open_file();
    /// On the file thread: removes the temporary file and gives back the reservation (once).
    void discard();
    /// On the file thread: fsync, rename, directory fsync; false on failure.
    bool settle_file();
    std::string temporary_path() const;

    file_service& service_;
    store::file_record record_;
    file_http_request header_;
    /// Of the owner's quota; given back on failure (or what the body did not use).
    std::uint64_t reserved_bytes_ = 0;
    /// Body bytes taken by write (the listener's thread).
    std::uint64_t received_bytes_ = 0;
    // The file thread's.
    int file_ = -1;
    wc_Sha256 digest_{};
    bool is_digest_ready_ = false;
    bool is_discarded_ = false;
    bool is_committed_ = false;
    bool has_failed_ = false;
};

} // namespace perch::gateway
