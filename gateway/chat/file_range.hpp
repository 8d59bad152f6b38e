// The byte range a download asks for (RFC 9110 section 14: `Range: bytes=...`), so that videos
// and interrupted downloads resume. A pure function of the header and the file's size.
#pragma once

#include <cstdint>
#include <string_view>

namespace perch::gateway {

/// What a download answers.
struct file_range {
    enum class kind : std::uint8_t {
        /// 200 with the whole file: no Range, a Range perch does not serve (several ranges, another
        /// unit) or one that does not parse, which RFC 9110 says to ignore.
        whole,
        /// 206 with bytes first..last (inclusive) and `Content-Range: bytes first-last/size`.
        part,
        /// 416 with `Content-Range: bytes */size`: no byte of the file is in the range.
        unsatisfiable,
    };
    kind answer = kind::whole;
    std::uint64_t first = 0;
    /// Inclusive.
    std::uint64_t last = 0;

    std::uint64_t length() const { return last - first + 1; }
};

/// The range `header` (the Range field's value; empty when absent) asks of a file of `size_bytes`
/// bytes: `bytes=a-b` (b past the end is cut to the end), `bytes=a-` and `bytes=-n` (the last n
/// bytes, the whole file when n is at least its size). A single range only: a list of several is
/// answered whole, as RFC 9110 allows.
file_range parse_file_range(std::string_view header, std::uint64_t size_bytes);

} // namespace perch::gateway
