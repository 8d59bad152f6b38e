// The bytes of stored files on disk. See the header.
#include "gateway/chat/file_disk.hpp"

#include <array>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <fcntl.h>
#include <unistd.h>

namespace perch::gateway {

namespace {

constexpr std::string_view hex_digits = "0123456789abcdef";

std::string to_hex(const unsigned char* bytes, std::size_t size) {
    std::string text;
    text.reserve(size * 2);
    for (std::size_t index = 0; index < size; ++index) {
        text += hex_digits[bytes[index] >> 4];
        text += hex_digits[bytes[index] & 0x0f];
    }
    return text;
}

} // namespace

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

std::string read_file_bytes(const std::filesystem::path& path, std::uint64_t offset,
                            std::uint64_t length) {
    const int file = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (file < 0) {
        throw std::system_error(errno, std::generic_category(), "open " + path.string());
    }
    std::string bytes(static_cast<std::size_t>(length), '\0');
    std::size_t read_bytes = 0;
    while (read_bytes < bytes.size()) {
        const ssize_t result = ::pread(file, bytes.data() + read_bytes, bytes.size() - read_bytes,
                                       static_cast<off_t>(offset + read_bytes));
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result <= 0) {
            const int error = result < 0 ? errno : EIO;
            ::close(file);
            throw std::system_error(error, std::generic_category(), "read " + path.string());
        }
        read_bytes += static_cast<std::size_t>(result);
    }
    ::close(file);
    return bytes;
}

} // namespace perch::gateway
