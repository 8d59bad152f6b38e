// An upload written to disk as its body arrives. See the header.
#include "gateway/chat/file_upload.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "gateway/chat/file_http.hpp"
#include "gateway/common/log.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace perch::gateway {

namespace http = boost::beast::http;

namespace {

std::string hex_of(const unsigned char* bytes, std::size_t size) {
    constexpr std::string_view digits = "0123456789abcdef";
    std::string text;
    for (std::size_t index = 0; index < size; ++index) {
        text += digits[bytes[index] >> 4];
        text += digits[bytes[index] & 0x0f];
    }
    return text;
}

} // namespace

file_upload::file_upload(file_service& service, store::file_record record, file_http_request header,
                         std::uint64_t reserved_bytes)
    : service_(service), record_(std::move(record)), header_(std::move(header)),
      reserved_bytes_(reserved_bytes) {}

file_upload::~file_upload() {
    // A sink dropped without finish or abort (it should not be): nothing may stay behind.
    if (!is_committed_ && !is_discarded_) {
        discard();
    }
    if (is_digest_ready_) {
        wc_Sha256Free(&digest_);
    }
}

std::string file_upload::temporary_path() const {
    return service_.path_of(record_.id) + ".part";
}

void file_upload::write(std::string bytes,
                        std::function<void(std::optional<http_response>)> written) {
    const std::uint64_t max_bytes = service_.max_file_bytes_.load(std::memory_order_relaxed);
    received_bytes_ += bytes.size();
    if (received_bytes_ > max_bytes) {
        service_.counts_.refused_too_large.add();
        refuse_now();
        written(service_.too_large(header_));
        return;
    }
    if (received_bytes_ > reserved_bytes_) {
        // No Content-Length (chunked), or a body longer than it said: the quota as bytes arrive.
        if (std::optional<file_http_response> refusal =
                service_.reserve(header_, record_.owner, received_bytes_ - reserved_bytes_)) {
            refuse_now();
            written(std::move(*refusal));
            return;
        }
        reserved_bytes_ = received_bytes_;
    }
    service_.post(
        [self = shared_from_this(), bytes = std::move(bytes), written = std::move(written)] {
            if (self->has_failed_ || self->is_discarded_ || !self->open_file()) {
                self->discard();
                written(error_response(self->header_, http::status::insufficient_storage, "failed",
                                       "the file could not be stored"));
                return;
            }
            std::size_t offset = 0;
            while (offset < bytes.size()) {
                const ssize_t result =
                    ::write(self->file_, bytes.data() + offset, bytes.size() - offset);
                if (result < 0 && errno == EINTR) {
                    continue;
                }
                if (result < 0) {
                    log_error("files: cannot write {}: {}", self->temporary_path(),
                              std::strerror(errno));
                    self->has_failed_ = true;
                    self->discard();
                    written(error_response(self->header_, http::status::insufficient_storage,
                                           "failed", "the file could not be stored"));
                    return;
                }
                offset += static_cast<std::size_t>(result);
            }
            wc_Sha256Update(&self->digest_, reinterpret_cast<const byte*>(bytes.data()),
                            static_cast<word32>(bytes.size()));
            written(std::nullopt);
        });
}

void file_upload::finish(std::function<void(http_response)> done) {
    service_.post([self = shared_from_this(), done = std::move(done)] {
        if (self->received_bytes_ == 0) {
            self->service_.counts_.refused_bad_request.add();
            self->discard();
            done(error_response(self->header_, http::status::bad_request, "empty_file",
                                "the request body is the file; it is empty"));
            return;
        }
        if (self->has_failed_ || self->is_discarded_ || !self->settle_file()) {
            self->discard();
            done(error_response(self->header_, http::status::insufficient_storage, "failed",
                                "the file could not be stored"));
            return;
        }
        std::array<unsigned char, WC_SHA256_DIGEST_SIZE> digest{};
        wc_Sha256Final(&self->digest_, digest.data());
        self->record_.sha256 = hex_of(digest.data(), digest.size());
        self->record_.size_bytes = self->received_bytes_;
        if (self->reserved_bytes_ > self->received_bytes_) {
            self->service_.release(self->record_.owner,
                                   self->reserved_bytes_ - self->received_bytes_);
        }
        // From here the record holds the reservation: commit_upload gives it back on failure.
        self->is_committed_ = true;
        self->service_.commit_upload(self->record_, self->header_.version(),
                                     self->header_.keep_alive(), done);
    });
}

void file_upload::abort() {
    service_.post([self = shared_from_this()] { self->discard(); });
}

void file_upload::refuse_now() {
    // No piece is being written (the next write comes only after the last one's answer), so the
    // reservation is given back here, before the refusal is answered: the client's next upload
    // finds its quota as it was. The file goes on the file thread.
    service_.release(record_.owner, reserved_bytes_);
    reserved_bytes_ = 0;
    abort();
}

bool file_upload::open_file() {
    if (file_ >= 0) {
        return true;
    }
    if (wc_InitSha256(&digest_) != 0) {
        return false;
    }
    is_digest_ready_ = true;
    file_ = ::open(temporary_path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (file_ < 0) {
        log_error("files: cannot create {}: {}", temporary_path(), std::strerror(errno));
        return false;
    }
    return true;
}

bool file_upload::settle_file() {
    if (!open_file()) {
        return false;
    }
    if (::fsync(file_) != 0) {
        log_error("files: cannot fsync {}: {}", temporary_path(), std::strerror(errno));
        return false;
    }
    ::close(file_);
    file_ = -1;
    const std::string path = service_.path_of(record_.id);
    if (::rename(temporary_path().c_str(), path.c_str()) != 0) {
        log_error("files: cannot rename {}: {}", temporary_path(), std::strerror(errno));
        return false;
    }
    const std::filesystem::path directory = std::filesystem::path(path).parent_path();
    const int handle = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (handle >= 0) {
        ::fsync(handle);
        ::close(handle);
    }
    return true;
}

void file_upload::discard() {
    if (is_discarded_ || is_committed_) {
        return;
    }
    is_discarded_ = true;
    if (file_ >= 0) {
        ::close(file_);
        file_ = -1;
    }
    ::unlink(temporary_path().c_str());
    service_.release(record_.owner, reserved_bytes_);
    reserved_bytes_ = 0;
}

bool file_service::is_streamed(http::verb method, std::string_view target) {
    return method == http::verb::post && path_of_target(target) == "/files";
}

void file_service::begin_upload(
    file_http_request request, std::string remote_address,
    std::function<void(std::shared_ptr<http_body_sink>, std::optional<file_http_response>)> ready) {
    auto header = std::make_shared<const file_http_request>(std::move(request));
    authenticate(
        header, std::move(remote_address),
        [this, header, ready](const std::string& user) {
            const auto declared =
                header->find(http::field::content_length) != header->end()
                    ? std::stoull(std::string((*header)[http::field::content_length]))
                    : 0ULL;
            if (declared > max_file_bytes_.load(std::memory_order_relaxed)) {
                counts_.refused_too_large.add();
                ready(nullptr, too_large(*header));
                return;
            }
            store::file_record record;
            try {
                record = new_record(*header, user);
            } catch (const std::exception& error) {
                ready(nullptr, error_response(*header, http::status::internal_server_error,
                                              "failed", error.what()));
                return;
            }
            if (std::optional<file_http_response> refusal = reserve(*header, user, declared)) {
                ready(nullptr, std::move(refusal));
                return;
            }
            ready(std::make_shared<file_upload>(*this, std::move(record), *header, declared),
                  std::nullopt);
        },
        [ready](file_http_response refusal) { ready(nullptr, std::move(refusal)); });
}

} // namespace perch::gateway
