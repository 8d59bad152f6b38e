// A plain HTTP/1.1 client for the integration tests: one request on its own connection, read
// until the server closes it, and the samples of a Prometheus text answer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace perch::integration {

/// What a plain HTTP/1.1 exchange gave back.
struct http_answer {
    /// The status code; 0 when the answer is no HTTP/1.1 status line.
    unsigned status = 0;
    std::string body;
    /// Everything received, headers included.
    std::string raw;
};

/// Sends `request` bytes to 127.0.0.1:`port` and reads until the server closes the connection.
inline http_answer http_exchange(std::uint16_t port, const std::string& request) {
    namespace asio = boost::asio;
    asio::io_context context;
    asio::ip::tcp::socket socket(context);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(socket, asio::buffer(request));
    http_answer answer;
    boost::system::error_code error;
    asio::read(socket, asio::dynamic_buffer(answer.raw), error);
    if (answer.raw.rfind("HTTP/1.1 ", 0) == 0) {
        answer.status = static_cast<unsigned>(std::stoul(answer.raw.substr(9, 3)));
    }
    const auto body_at = answer.raw.find("\r\n\r\n");
    if (body_at != std::string::npos) {
        answer.body = answer.raw.substr(body_at + 4);
    }
    return answer;
}

/// GET `target` with `extra_headers` (each ending in CRLF) and Connection: close.
inline http_answer http_get(std::uint16_t port, const std::string& target,
                            const std::string& extra_headers = "") {
    return http_exchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                   extra_headers + "Connection: close\r\n\r\n");
}

/// The value of the Prometheus sample line starting with `series` (name and labels, exactly as
/// written), or nothing when there is no such line.
inline std::optional<double> sample(const std::string& text, const std::string& series) {
    const std::string needle = "\n" + series + " ";
    const auto at = text.find(needle);
    if (at == std::string::npos) {
        return std::nullopt;
    }
    return std::stod(text.substr(at + needle.size()));
}

} // namespace perch::integration
