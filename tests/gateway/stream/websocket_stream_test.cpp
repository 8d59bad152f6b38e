// websocket_stream: the HTTP upgrade (path, subprotocol, permessage-deflate), binary messages
// both ways, the message limits before and after the CONNECT (1009), text messages (1003) and
// plain HTTP requests. The server transport runs here; a Beast client runs on its own thread,
// over a loopback TCP connection.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>
#include <gtest/gtest.h>

#include "gateway/stream/transport.hpp"
#include "gateway/stream/websocket_stream.hpp"

namespace perch::gateway {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;

/// What the Beast client saw: the upgrade answer, the messages, and how its reads ended.
struct client_outcome {
    websocket::response_type response;
    boost::system::error_code handshake_error;
    std::vector<std::string> messages;
    std::vector<bool> binary_flags;
    boost::system::error_code read_error;
    websocket::close_reason close;
};

/// The client's part of a test, given its connected (not yet upgraded) stream.
using client_script = std::function<void(websocket::stream<tcp::socket>&, client_outcome&)>;

/// A websocket transport on an accepted loopback socket, read the way a connection reads it:
/// wait for readable, then read_some until would_block, one message per wake-up.
class websocket_server {
public:
    websocket_server() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}

    ~websocket_server() {
        stop_client();
        // Before the io_context its socket belongs to.
        server_side.reset();
    }
    websocket_server(const websocket_server&) = delete;
    websocket_server& operator=(const websocket_server&) = delete;

    /// Starts `script` on a client thread, accepts its connection and starts reading.
    void start(const websocket_settings& settings, client_script script) {
        const std::uint16_t port = acceptor_.local_endpoint().port();
        client_ = std::thread([this, port, script = std::move(script)] {
            asio::io_context client_io;
            websocket::stream<tcp::socket> stream(client_io);
            boost::system::error_code error;
            stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                        error);
            if (!error) {
                try {
                    script(stream, outcome);
                } catch (const boost::system::system_error& failure) {
                    outcome.read_error = failure.code();
                    outcome.close = stream.reason();
                }
            }
            is_client_done = true;
        });
        server_side = make_websocket_transport(acceptor_.accept(), settings);
        wait();
    }

    /// Runs the server until `done` (bounded).
    template <typename Predicate> void run_until(Predicate done) {
        for (int turn = 0; turn < 1000 && !done(); ++turn) {
            io_.restart();
            io_.run_one_for(std::chrono::milliseconds(10));
        }
    }

    /// Sends `bytes` as one flush and runs until it is written.
    void write(const std::string& bytes) {
        const asio::const_buffer buffer(bytes.data(), bytes.size());
        bool is_written = false;
        server_side->async_write(std::span(&buffer, 1),
                                 [&](const boost::system::error_code& error, std::size_t) {
                                     EXPECT_FALSE(error) << error.message();
                                     is_written = true;
                                 });
        run_until([&] { return is_written; });
        EXPECT_TRUE(is_written);
    }

    /// Runs until the client's script ended, closes the server side (which ends a client still
    /// waiting) and joins the client.
    void finish() {
        run_until([&] { return is_client_done.load(); });
        stop_client();
    }

    std::unique_ptr<transport> server_side;
    /// The bytes of each wake-up, in order.
    std::vector<std::string> messages;
    /// How the server's wait ended, once it did.
    std::optional<boost::system::error_code> ended;
    /// Called after each message the server takes in.
    std::function<void()> on_message;
    /// Destroys the transport inside the handler that reports its end, as a connection that
    /// holds the last reference to itself there does.
    bool is_destroyed_when_ended = false;
    client_outcome outcome;
    std::atomic<bool> is_client_done{false};

private:
    void wait() {
        server_side->async_wait_readable([this](const boost::system::error_code& error) {
            if (error) {
                ended = error;
                if (is_destroyed_when_ended) {
                    server_side.reset();
                }
                return;
            }
            std::string message;
            std::array<std::uint8_t, 4096> buffer{};
            boost::system::error_code read_error;
            while (true) {
                const std::size_t count = server_side->read_some(buffer, read_error);
                if (read_error) {
                    break;
                }
                message.append(reinterpret_cast<const char*>(buffer.data()), count);
            }
            EXPECT_EQ(read_error, asio::error::would_block) << read_error.message();
            messages.push_back(std::move(message));
            if (on_message) {
                on_message();
            }
            wait();
        });
    }

    void stop_client() {
        if (server_side) {
            server_side->close();
        }
        if (client_.joinable()) {
            client_.join();
        }
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::thread client_;
};

/// Offers `subprotocols` (none when empty) and, when `offers_deflate`, permessage-deflate, then
/// upgrades at `path`.
void upgrade(websocket::stream<tcp::socket>& stream, client_outcome& outcome,
             const std::string& subprotocols, bool offers_deflate = false,
             const std::string& path = "/mqtt") {
    if (!subprotocols.empty()) {
        stream.set_option(
            websocket::stream_base::decorator([subprotocols](websocket::request_type& request) {
                request.set(http::field::sec_websocket_protocol, subprotocols);
            }));
    }
    if (offers_deflate) {
        websocket::permessage_deflate deflate;
        deflate.client_enable = true;
        stream.set_option(deflate);
    }
    stream.handshake(outcome.response, "127.0.0.1", path, outcome.handshake_error);
}

/// Reads messages until the stream fails or closes, noting them and how it ended; after
/// `expected` messages the client closes (normal closure).
void read_to_the_end(websocket::stream<tcp::socket>& stream, client_outcome& outcome,
                     std::size_t expected = SIZE_MAX) {
    while (true) {
        if (outcome.messages.size() == expected) {
            stream.close(websocket::close_code::normal, outcome.read_error);
            return;
        }
        boost::beast::flat_buffer buffer;
        boost::system::error_code error;
        stream.read(buffer, error);
        if (error) {
            outcome.read_error = error;
            outcome.close = stream.reason();
            return;
        }
        outcome.messages.push_back(boost::beast::buffers_to_string(buffer.data()));
        outcome.binary_flags.push_back(stream.got_binary());
    }
}

std::string patterned_bytes(std::size_t size) {
    std::string bytes(size, '\0');
    for (std::size_t index = 0; index < size; ++index) {
        bytes[index] = static_cast<char>(index % 97);
    }
    return bytes;
}

/// `body` framed as one MQTT packet (a PUBLISH's fixed header): the transport sends each packet
/// of a write as a WebSocket message of its own.
std::string mqtt_packet(const std::string& body) {
    std::string packet(1, '\x30');
    std::size_t remaining = body.size();
    do {
        const auto digit = static_cast<std::uint8_t>(remaining % 128);
        remaining /= 128;
        packet += static_cast<char>(remaining > 0 ? digit | 0x80 : digit);
    } while (remaining > 0);
    return packet + body;
}

TEST(WebsocketStream, UpgradesAtMqttAndCarriesBinaryMessagesBothWays) {
    websocket_server server;
    server.start(websocket_settings{}, [](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, "mqtt");
        if (outcome.handshake_error) {
            return;
        }
        stream.binary(true);
        stream.write(asio::buffer(std::string("\x10\x02hi", 4)));
        stream.write(asio::buffer(std::string("second")));
        read_to_the_end(stream, outcome, 2);
    });
    server.run_until([&] { return server.messages.size() == 2 || server.ended; });
    server.write(std::string("\x20\x02\x00\x00", 4));
    server.write(mqtt_packet(patterned_bytes(70'000)));
    // The client closes once it has both.
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();

    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    EXPECT_EQ(server.outcome.response.result(), http::status::switching_protocols);
    EXPECT_EQ(server.outcome.response[http::field::sec_websocket_protocol], "mqtt");
    EXPECT_EQ(server.outcome.response[http::field::sec_websocket_extensions], "")
        << "no permessage-deflate unless offered";
    EXPECT_EQ(server.messages, (std::vector<std::string>{std::string("\x10\x02hi", 4), "second"}));
    // The client closed after the two messages; the server saw a clean close.
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, websocket::error::closed) << server.ended->message();
    EXPECT_FALSE(server.outcome.read_error) << server.outcome.read_error.message();
    ASSERT_EQ(server.outcome.messages.size(), 2u);
    EXPECT_EQ(server.outcome.messages[0], std::string("\x20\x02\x00\x00", 4));
    EXPECT_EQ(server.outcome.messages[1], mqtt_packet(patterned_bytes(70'000)));
    EXPECT_EQ(server.outcome.binary_flags, (std::vector<bool>{true, true}));
}

TEST(WebsocketStream, NegotiatesPermessageDeflateWhenOffered) {
    const std::string text = "chat/room/general " + std::string(20'000, 'a');
    websocket_server server;
    server.start(websocket_settings{}, [&](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, "mqtt", true);
        if (outcome.handshake_error) {
            return;
        }
        stream.binary(true);
        stream.write(asio::buffer(text));
        read_to_the_end(stream, outcome, 1);
    });
    server.run_until([&] { return !server.messages.empty() || server.ended; });
    server.write(mqtt_packet(text + "back"));
    server.finish();

    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    // Beast offers "server_max_window_bits=15; client_max_window_bits=15": perch echoes the first,
    // caps the client's window at 2^9 (the history it keeps) and compresses each of its own
    // messages on its own.
    EXPECT_EQ(server.outcome.response[http::field::sec_websocket_extensions],
              "permessage-deflate; server_no_context_takeover; server_max_window_bits=15; "
              "client_max_window_bits=9");
    EXPECT_EQ(server.messages, std::vector<std::string>{text});
    EXPECT_EQ(server.outcome.messages, std::vector<std::string>{mqtt_packet(text + "back")});
}

/// The Sec-WebSocket-Extensions answer to `offer`, from a client that then closes.
std::string extensions_answer(const std::string& offer) {
    websocket_server server;
    server.start(websocket_settings{}, [offer](auto& stream, client_outcome& outcome) {
        stream.set_option(
            websocket::stream_base::decorator([offer](websocket::request_type& request) {
                request.set(http::field::sec_websocket_protocol, "mqtt");
                request.set(http::field::sec_websocket_extensions, offer);
            }));
        stream.handshake(outcome.response, "127.0.0.1", "/mqtt", outcome.handshake_error);
        if (!outcome.handshake_error) {
            read_to_the_end(stream, outcome, 0);
        }
    });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();
    EXPECT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    return std::string(server.outcome.response[http::field::sec_websocket_extensions]);
}

TEST(WebsocketStream, AnswersBrowserAndMqttJsDeflateOffers) {
    // Chrome, Firefox and MQTT.js (Node's ws) offer this: a 2^9 client window with context
    // takeover, and no history for perch's own messages.
    EXPECT_EQ(extensions_answer("permessage-deflate; client_max_window_bits"),
              "permessage-deflate; server_no_context_takeover; client_max_window_bits=9");
    // Safari's older offer cannot have its window capped: no context takeover for it.
    EXPECT_EQ(extensions_answer("permessage-deflate"),
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT_EQ(extensions_answer("x-webkit-deflate-frame"), "");
}

TEST(WebsocketStream, CarriesManyCompressedMessagesBothWays) {
    // Chat-sized messages, and larger ones Beast sends in several frames (its write buffer is
    // 4 KiB), each inflated on its own.
    std::vector<std::string> up;
    for (std::size_t index = 0; index < 150; ++index) {
        std::string message = "\x30rooms/general/user" + std::to_string(index % 7) +
                              "{\"text\":\"hello number " + std::to_string(index) + "\"}";
        if (index % 50 == 49) {
            message += patterned_bytes(20'000 + index);
        }
        up.push_back(std::move(message));
    }
    std::vector<std::string> down;
    for (auto message = up.rbegin(); message != up.rend(); ++message) {
        down.push_back(mqtt_packet(*message));
    }
    websocket_server server;
    server.start(websocket_settings{}, [&](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, "mqtt", true);
        if (outcome.handshake_error) {
            return;
        }
        stream.binary(true);
        for (const auto& message : up) {
            stream.write(asio::buffer(message));
        }
        read_to_the_end(stream, outcome, down.size());
    });
    server.run_until([&] { return server.messages.size() == up.size() || server.ended; });
    for (const auto& message : down) {
        server.write(message);
    }
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();

    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    ASSERT_NE(server.outcome.response[http::field::sec_websocket_extensions], "");
    EXPECT_EQ(server.messages, up);
    EXPECT_EQ(server.outcome.messages, down);
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, websocket::error::closed) << server.ended->message();
}

class WebsocketStreamPackets : public ::testing::TestWithParam<bool> {};

// Paho C's WebSocket client reads one MQTT packet per message: a PUBACK and a PUBLISH flushed
// together must arrive as two messages, compressed or not.
TEST_P(WebsocketStreamPackets, EachPacketOfAWriteIsAMessageOfItsOwn) {
    const bool is_compressed = GetParam();
    const std::string puback("\x40\x02\x00\x07", 4);
    const std::string publish = mqtt_packet("\x00\x0aweb/check" + std::string(300, 'x'));
    const std::string large = mqtt_packet(patterned_bytes(20'000));
    websocket_server server;
    server.start(websocket_settings{}, [&](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, "mqtt", is_compressed);
        if (!outcome.handshake_error) {
            stream.binary(true);
            stream.write(asio::buffer(std::string("\xc0\x00", 2)));
            read_to_the_end(stream, outcome, 3);
        }
    });
    server.run_until([&] { return !server.messages.empty() || server.ended; });
    server.write(puback + publish + large);
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();
    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    EXPECT_EQ(server.outcome.messages, (std::vector<std::string>{puback, publish, large}));
}

INSTANTIATE_TEST_SUITE_P(Compression, WebsocketStreamPackets, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                             return info.param ? "Deflate" : "Plain";
                         });

TEST(WebsocketStream, DeclinesPermessageDeflateWhenDisabled) {
    websocket_settings settings;
    settings.is_deflate_enabled = false;
    websocket_server server;
    server.start(settings, [](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, "mqtt", true);
        if (outcome.handshake_error) {
            return;
        }
        stream.binary(true);
        stream.write(asio::buffer(std::string("plain")));
        read_to_the_end(stream, outcome, 0);
    });
    server.run_until([&] { return !server.messages.empty() || server.ended; });
    server.finish();

    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    EXPECT_EQ(server.outcome.response[http::field::sec_websocket_extensions], "");
    EXPECT_EQ(server.messages, std::vector<std::string>{"plain"});
}

/// Sends binary messages of `sizes` bytes (zeros, so that deflate makes them tiny), then reads
/// to the end.
client_script send_sizes(std::vector<std::size_t> sizes, bool offers_deflate) {
    return [sizes, offers_deflate](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, "mqtt", offers_deflate);
        if (outcome.handshake_error) {
            return;
        }
        stream.binary(true);
        for (const std::size_t size : sizes) {
            stream.write(asio::buffer(std::string(size, '\0')));
        }
        read_to_the_end(stream, outcome);
    };
}

// The limits are the settings' (the server derives them from max_connect_packet_size and
// max_packet_size, docs/DESIGN.md "Overload"); small ones here. With deflate, the messages of
// zeros are a few bytes on the wire: the limit is on the inflated size.
class WebsocketStreamLimit : public ::testing::TestWithParam<bool> {};

TEST_P(WebsocketStreamLimit, AMessageOverTheConnectLimitClosesWith1009) {
    websocket_settings settings;
    settings.max_connect_message_bytes = 1000;
    settings.max_message_bytes = 4000;
    websocket_server server;
    server.start(settings, send_sizes({1000, 1001}, GetParam()));
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();

    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    EXPECT_EQ(server.outcome.response[http::field::sec_websocket_extensions].empty(), !GetParam());
    // The one at the limit arrives whole; nothing of the one past it does.
    EXPECT_EQ(server.messages, std::vector<std::string>{std::string(1000, '\0')});
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, websocket::error::message_too_big) << server.ended->message();
    EXPECT_EQ(server.outcome.read_error, websocket::error::closed)
        << server.outcome.read_error.message();
    EXPECT_EQ(server.outcome.close.code, websocket::close_code::too_big);
}

TEST_P(WebsocketStreamLimit, AfterTheConnectTheMessageLimitApplies) {
    websocket_settings settings;
    settings.max_connect_message_bytes = 1000;
    settings.max_message_bytes = 4000;
    websocket_server server;
    // As the connection does once it accepted the CONNECT in the first message.
    server.on_message = [&] {
        if (server.messages.size() == 1) {
            server.server_side->on_connect_accepted();
        }
    };
    server.start(settings, send_sizes({1000, 4000, 4001}, GetParam()));
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();

    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    EXPECT_EQ(server.messages,
              (std::vector<std::string>{std::string(1000, '\0'), std::string(4000, '\0')}));
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, websocket::error::message_too_big) << server.ended->message();
    EXPECT_EQ(server.outcome.close.code, websocket::close_code::too_big);
}

INSTANTIATE_TEST_SUITE_P(Compression, WebsocketStreamLimit, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                             return info.param ? "Deflate" : "Plain";
                         });

TEST(WebsocketStream, ATextMessageClosesWith1003) {
    websocket_server server;
    server.start(websocket_settings{}, [](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, "mqtt");
        if (outcome.handshake_error) {
            return;
        }
        stream.text(true);
        stream.write(asio::buffer(std::string("hello")));
        read_to_the_end(stream, outcome);
    });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();

    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    EXPECT_TRUE(server.messages.empty());
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, asio::error::operation_not_supported) << server.ended->message();
    EXPECT_EQ(server.outcome.read_error, websocket::error::closed)
        << server.outcome.read_error.message();
    EXPECT_EQ(server.outcome.close.code, websocket::close_code::unknown_data);
}

struct subprotocol_case {
    std::string name;
    std::string offered;
    std::string chosen;
};

void PrintTo(const subprotocol_case& offer, std::ostream* out) {
    *out << '"' << offer.offered << '"';
}

class WebsocketStreamSubprotocol : public ::testing::TestWithParam<subprotocol_case> {};

TEST_P(WebsocketStreamSubprotocol, EchoesMqttWhenOfferedAndUpgradesAnyway) {
    websocket_server server;
    const std::string offered = GetParam().offered;
    server.start(websocket_settings{}, [offered](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, offered);
        if (outcome.handshake_error) {
            return;
        }
        stream.binary(true);
        stream.write(asio::buffer(std::string("x")));
        read_to_the_end(stream, outcome, 0);
    });
    server.run_until([&] { return !server.messages.empty() || server.ended; });
    server.finish();

    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    EXPECT_EQ(server.outcome.response[http::field::sec_websocket_protocol], GetParam().chosen);
    EXPECT_EQ(server.messages, std::vector<std::string>{"x"});
}

INSTANTIATE_TEST_SUITE_P(Offers, WebsocketStreamSubprotocol,
                         ::testing::Values(subprotocol_case{"Mqtt", "mqtt", "mqtt"},
                                           subprotocol_case{"ChatThenMqtt", "chat, mqtt", "mqtt"},
                                           subprotocol_case{"Mqttv31", "mqttv3.1", "mqttv3.1"},
                                           subprotocol_case{"UpperCaseAndChat", "MQTT, chat", ""},
                                           subprotocol_case{"None", "", ""}),
                         [](const ::testing::TestParamInfo<subprotocol_case>& info) {
                             return info.param.name;
                         });

/// Sends `request` as it is and reads the HTTP answer; the server's wait must end with
/// connection_refused.
http::response<http::string_body> refused_answer(const std::string& request) {
    websocket_server server;
    http::response<http::string_body> response;
    boost::system::error_code response_error;
    server.start(websocket_settings{}, [&](auto& stream, client_outcome&) {
        asio::write(stream.next_layer(), asio::buffer(request));
        boost::beast::flat_buffer buffer;
        http::read(stream.next_layer(), buffer, response, response_error);
    });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();
    EXPECT_FALSE(response_error) << response_error.message();
    EXPECT_TRUE(server.ended);
    if (server.ended) {
        EXPECT_EQ(*server.ended, asio::error::connection_refused) << server.ended->message();
    }
    EXPECT_TRUE(server.messages.empty());
    return response;
}

TEST(WebsocketStream, AnUpgradeAtAnotherPathGets404) {
    const auto response = refused_answer("GET /other HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                         "Sec-WebSocket-Version: 13\r\n"
                                         "Sec-WebSocket-Protocol: mqtt\r\n\r\n");
    EXPECT_EQ(response.result(), http::status::not_found);
    EXPECT_EQ(response.body(), "not found\n");
    EXPECT_EQ(response[http::field::connection], "close");
}

TEST(WebsocketStream, AnUpgradeAtAnotherPathFailsTheBeastHandshake) {
    websocket_server server;
    server.start(websocket_settings{}, [](auto& stream, client_outcome& outcome) {
        upgrade(stream, outcome, "mqtt", false, "/other");
    });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();
    EXPECT_EQ(server.outcome.handshake_error, websocket::error::upgrade_declined)
        << server.outcome.handshake_error.message();
}

TEST(WebsocketStream, APlainHttpGetGets400) {
    const auto response = refused_answer("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    EXPECT_EQ(response.result(), http::status::bad_request);
    EXPECT_EQ(response.body(), "WebSocket upgrade expected\n");
    EXPECT_EQ(response[http::field::connection], "close");
}

/// A plain HTTP handler that names the path it was asked for, keeping the connection as asked.
websocket_settings with_plain_handler() {
    websocket_settings settings;
    settings.plain_requests = [](const http::request<http::empty_body>& request) {
        http::response<http::string_body> response(http::status::ok, request.version());
        response.keep_alive(request.keep_alive());
        response.body() = "page " + std::string(request.target());
        response.prepare_payload();
        return response;
    };
    return settings;
}

TEST(WebsocketStream, PlainRequestsGoToTheHandlerAndTheConnectionStaysForAnUpgrade) {
    websocket_server server;
    std::vector<std::string> pages;
    server.start(with_plain_handler(), [&](auto& stream, client_outcome& outcome) {
        boost::beast::flat_buffer buffer;
        for (const std::string path : {"/", "/assets/app.js"}) {
            http::request<http::empty_body> request(http::verb::get, path, 11);
            request.set(http::field::host, "127.0.0.1");
            http::write(stream.next_layer(), request);
            http::response<http::string_body> response;
            http::read(stream.next_layer(), buffer, response);
            pages.push_back(response.body());
        }
        // The same connection then upgrades at /mqtt and carries MQTT.
        upgrade(stream, outcome, "mqtt");
        if (outcome.handshake_error) {
            return;
        }
        stream.binary(true);
        stream.write(asio::buffer(std::string("\x10\x02hi", 4)));
        read_to_the_end(stream, outcome, 0);
    });
    server.run_until([&] { return !server.messages.empty() || server.ended; });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();
    EXPECT_EQ(pages, (std::vector<std::string>{"page /", "page /assets/app.js"}));
    ASSERT_FALSE(server.outcome.handshake_error) << server.outcome.handshake_error.message();
    EXPECT_EQ(server.messages, (std::vector<std::string>{std::string("\x10\x02hi", 4)}));
}

TEST(WebsocketStream, APlainRequestThatClosesEndsTheWaitAfterItsAnswer) {
    websocket_server server;
    http::response<http::string_body> response;
    server.start(with_plain_handler(), [&](auto& stream, client_outcome&) {
        asio::write(stream.next_layer(),
                    asio::buffer(std::string("GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             "Connection: close\r\n\r\n")));
        boost::beast::flat_buffer buffer;
        http::read(stream.next_layer(), buffer, response);
    });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();
    EXPECT_EQ(response.result(), http::status::ok);
    EXPECT_EQ(response.body(), "page /index.html");
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, asio::error::eof) << server.ended->message();
    EXPECT_TRUE(server.messages.empty());
}

TEST(WebsocketStream, GarbageInsteadOfAnHttpRequestEndsTheWait) {
    websocket_server server;
    server.start(websocket_settings{}, [](auto& stream, client_outcome& outcome) {
        // An MQTT CONNECT, as from a client that was told the plain MQTT port.
        asio::write(stream.next_layer(),
                    asio::buffer(std::string("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 14)));
        std::array<char, 64> buffer{};
        stream.next_layer().read_some(asio::buffer(buffer), outcome.read_error);
    });
    server.run_until([&] { return server.ended.has_value(); });
    // Nothing is answered: the connection closes the transport.
    server.server_side->close();
    server.finish();

    ASSERT_TRUE(server.ended);
    EXPECT_TRUE(*server.ended);
    EXPECT_TRUE(server.messages.empty());
    EXPECT_EQ(server.outcome.read_error, asio::error::eof) << server.outcome.read_error.message();
}

// ---- raw frames: what Beast's client does not send ---------------------------------------

/// Upgrades `socket` by hand, offering `extensions` when not empty; returns the response head.
std::string raw_upgrade(tcp::socket& socket, const std::string& extensions) {
    std::string request = "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                          "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Protocol: mqtt\r\n";
    if (!extensions.empty()) {
        request += "Sec-WebSocket-Extensions: " + extensions + "\r\n";
    }
    asio::write(socket, asio::buffer(request + "\r\n"));
    std::string response;
    char byte = 0;
    while (response.find("\r\n\r\n") == std::string::npos &&
           asio::read(socket, asio::buffer(&byte, 1)) == 1) {
        response += byte;
    }
    return response;
}

/// A client frame: FIN, RSV1 and opcode as given, masked with a fixed key.
std::string client_frame(std::uint8_t opcode, const std::string& payload, bool fin = true,
                         bool rsv1 = false, bool masked = true) {
    std::string frame;
    frame += static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
    const char mask_bit = masked ? '\x80' : '\0';
    if (payload.size() < 126) {
        frame += static_cast<char>(mask_bit | static_cast<char>(payload.size()));
    } else {
        frame += static_cast<char>(mask_bit | 126);
        frame += static_cast<char>(payload.size() >> 8);
        frame += static_cast<char>(payload.size() & 0xff);
    }
    const std::array<char, 4> key{'\x12', '\x34', '\x56', '\x78'};
    if (masked) {
        frame.append(key.begin(), key.end());
    }
    for (std::size_t index = 0; index < payload.size(); ++index) {
        frame += masked ? static_cast<char>(payload[index] ^ key[index % 4]) : payload[index];
    }
    return frame;
}

/// A server frame as the raw client read it.
struct server_frame {
    std::uint8_t opcode = 0;
    bool rsv1 = false;
    std::string payload;
};

/// Reads the server's frames until it closes the connection.
std::vector<server_frame> read_server_frames(tcp::socket& socket) {
    std::string bytes;
    std::array<char, 4096> buffer{};
    boost::system::error_code error;
    while (!error) {
        const std::size_t count = socket.read_some(asio::buffer(buffer), error);
        bytes.append(buffer.data(), count);
    }
    std::vector<server_frame> frames;
    std::size_t position = 0;
    while (position + 2 <= bytes.size()) {
        server_frame frame;
        frame.opcode = static_cast<std::uint8_t>(bytes[position] & 0x0f);
        frame.rsv1 = (bytes[position] & 0x40) != 0;
        std::size_t length = static_cast<std::uint8_t>(bytes[position + 1]) & 0x7f;
        position += 2;
        if (length == 126) {
            length = (static_cast<std::uint8_t>(bytes[position]) << 8) |
                     static_cast<std::uint8_t>(bytes[position + 1]);
            position += 2;
        }
        frame.payload = bytes.substr(position, length);
        position += length;
        frames.push_back(std::move(frame));
    }
    return frames;
}

std::string close_payload(std::uint16_t code) {
    return {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
}

TEST(WebsocketStream, TakesFramesSplitAndJoinedAnywhereAndAnswersPingsBetweenThem) {
    std::vector<server_frame> frames;
    websocket_server server;
    server.start(websocket_settings{}, [&](auto& stream, client_outcome&) {
        tcp::socket& socket = stream.next_layer();
        raw_upgrade(socket, "");
        // One message in three frames with a ping between them, then two messages and the first
        // byte of a fourth in one write, then the rest of it one byte at a time, then a close.
        std::string bytes = client_frame(0x2, "first ", false) +
                            client_frame(0x9, "are you there") + client_frame(0x0, "part ", false) +
                            client_frame(0x0, "three");
        bytes += client_frame(0x2, "second") + client_frame(0x2, std::string(300, 's'));
        const std::string fourth = client_frame(0x2, "fourth");
        asio::write(socket, asio::buffer(bytes + fourth.substr(0, 1)));
        for (std::size_t index = 1; index < fourth.size(); ++index) {
            asio::write(socket, asio::buffer(fourth.substr(index, 1)));
        }
        asio::write(socket, asio::buffer(client_frame(0x8, close_payload(1000))));
        frames = read_server_frames(socket);
    });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();

    EXPECT_EQ(server.messages, (std::vector<std::string>{"first part three", "second",
                                                         std::string(300, 's'), "fourth"}));
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, websocket::error::closed) << server.ended->message();
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].opcode, 0xa);
    EXPECT_EQ(frames[0].payload, "are you there");
    EXPECT_EQ(frames[1].opcode, 0x8);
    EXPECT_EQ(frames[1].payload, close_payload(1000)) << "the client's code echoed";
}

struct bad_frame_case {
    const char* name;
    std::string frame;
    boost::system::error_code error;
};

class WebsocketStreamBadFrame : public ::testing::TestWithParam<bad_frame_case> {};

TEST_P(WebsocketStreamBadFrame, ClosesWith1002) {
    std::vector<server_frame> frames;
    websocket_server server;
    server.start(websocket_settings{}, [&](auto& stream, client_outcome&) {
        raw_upgrade(stream.next_layer(), "");
        asio::write(stream.next_layer(), asio::buffer(GetParam().frame));
        frames = read_server_frames(stream.next_layer());
    });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();

    EXPECT_TRUE(server.messages.empty());
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, GetParam().error) << server.ended->message();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].opcode, 0x8);
    EXPECT_EQ(frames[0].payload, close_payload(websocket::close_code::protocol_error));
}

INSTANTIATE_TEST_SUITE_P(
    Frames, WebsocketStreamBadFrame,
    ::testing::Values(bad_frame_case{"Unmasked", client_frame(0x2, "x", true, false, false),
                                     websocket::error::bad_unmasked_frame},
                      bad_frame_case{"CompressedWithoutDeflate", client_frame(0x2, "x", true, true),
                                     websocket::error::bad_reserved_bits},
                      bad_frame_case{"ContinuationFirst", client_frame(0x0, "x"),
                                     websocket::error::bad_continuation},
                      bad_frame_case{"FragmentedPing", client_frame(0x9, "x", false),
                                     websocket::error::bad_control_fragment},
                      bad_frame_case{"LongPing", client_frame(0x9, std::string(126, 'p')),
                                     websocket::error::bad_control_size},
                      bad_frame_case{"ReservedOpcode", client_frame(0x3, "x"),
                                     websocket::error::bad_opcode}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(WebsocketStream, InflatesFragmentedMessagesOfAClientThatKeepsItsHistory) {
    // As browsers compress: one stream for the connection, a sync flush per message, its
    // 00 00 FF FF removed, RSV1 on the first frame only.
    std::vector<std::string> messages;
    for (int index = 0; index < 40; ++index) {
        messages.push_back("\x30rooms/general/alice{\"text\":\"message " + std::to_string(index) +
                           " in the general room\"}");
    }
    std::string response;
    websocket_server server;
    server.start(websocket_settings{}, [&](auto& stream, client_outcome&) {
        tcp::socket& socket = stream.next_layer();
        response = raw_upgrade(socket, "permessage-deflate; client_max_window_bits");
        boost::beast::zlib::deflate_stream compressor;
        compressor.reset(6, 9, 8, boost::beast::zlib::Strategy::normal);
        std::string bytes;
        for (std::size_t index = 0; index < messages.size(); ++index) {
            std::string compressed(messages[index].size() + 64, '\0');
            boost::beast::zlib::z_params params;
            params.next_in = messages[index].data();
            params.avail_in = messages[index].size();
            params.next_out = compressed.data();
            params.avail_out = compressed.size();
            boost::system::error_code error;
            compressor.write(params, boost::beast::zlib::Flush::sync, error);
            compressed.resize(compressed.size() - params.avail_out - 4);
            if (index % 3 == 0) {
                const std::size_t half = compressed.size() / 2;
                bytes += client_frame(0x2, compressed.substr(0, half), false, true) +
                         client_frame(0x0, compressed.substr(half));
            } else {
                bytes += client_frame(0x2, compressed, true, true);
            }
        }
        asio::write(socket, asio::buffer(bytes + client_frame(0x8, close_payload(1000))));
        read_server_frames(socket);
    });
    server.run_until([&] { return server.ended.has_value(); });
    server.finish();

    EXPECT_NE(response.find("Sec-WebSocket-Extensions: permessage-deflate; "
                            "server_no_context_takeover; client_max_window_bits=9\r\n"),
              std::string::npos)
        << response;
    EXPECT_EQ(server.messages, messages);
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, websocket::error::closed) << server.ended->message();
}

TEST(WebsocketStream, TheHandlerThatReportsTheEndMayDestroyTheTransport) {
    // A connection drops its transport in the wait handler that reports the end: after perch's
    // close frame (1009 here) and after the client's, nothing may touch the transport then. The
    // client half-closes at once, so that the end is found as soon as perch's frame has gone.
    for (const bool is_too_big : {true, false}) {
        websocket_settings settings;
        settings.max_connect_message_bytes = 64;
        websocket_server server;
        server.is_destroyed_when_ended = true;
        server.start(settings, [&](auto& stream, client_outcome&) {
            raw_upgrade(stream.next_layer(), "");
            asio::write(stream.next_layer(),
                        asio::buffer(is_too_big ? client_frame(0x2, std::string(100, 'b'))
                                                : client_frame(0x8, close_payload(1000))));
            stream.next_layer().shutdown(tcp::socket::shutdown_send);
            read_server_frames(stream.next_layer());
        });
        server.run_until([&] { return server.ended.has_value(); });
        server.finish();

        ASSERT_TRUE(server.ended);
        EXPECT_EQ(*server.ended, is_too_big
                                     ? boost::system::error_code(websocket::error::message_too_big)
                                     : websocket::error::closed);
        EXPECT_FALSE(server.server_side);
    }
}

} // namespace
} // namespace perch::gateway
