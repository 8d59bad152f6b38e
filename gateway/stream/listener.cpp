// Accepts connections on one port for one worker.
#include "gateway/stream/listener.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include "gateway/common/log.hpp"

#include <sys/socket.h>

namespace perch::gateway {

namespace {

using reuse_port = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

/// Pause before accepting again after a failure such as running out of file descriptors.
constexpr std::chrono::milliseconds accept_retry_delay{100};

bool has_ipv6() {
    boost::asio::io_context probe_context;
    boost::asio::ip::tcp::socket probe(probe_context);
    boost::system::error_code error;
    probe.open(boost::asio::ip::tcp::v6(), error);
    return !error;
}

} // namespace

boost::asio::ip::tcp::endpoint listener_endpoint(const listener_config& config,
                                                 std::uint16_t port) {
    if (config.bind_address.empty()) {
        static const bool is_ipv6_available = has_ipv6();
        return is_ipv6_available
                   ? boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v6::any(), port)
                   : boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::any(), port);
    }
    return boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(config.bind_address), port);
}

listener::listener(boost::asio::io_context& context, const listener_config& config,
                   boost::asio::ip::tcp::endpoint endpoint, accept_handler on_accept)
    : context_(context), config_(config), acceptor_(context), retry_timer_(context),
      on_accept_(std::move(on_accept)) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
    acceptor_.set_option(reuse_port(true));
    if (endpoint.address().is_v6() && config.bind_address.empty()) {
        acceptor_.set_option(boost::asio::ip::v6_only(false));
    }
    acceptor_.bind(endpoint);
    acceptor_.listen(boost::asio::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
}

void listener::start() {
    boost::asio::post(context_, [this] { accept_next(); });
}

void listener::close() {
    boost::system::error_code ignored;
    retry_timer_.cancel();
    acceptor_.close(ignored);
}

void listener::accept_next() {
    if (!acceptor_.is_open()) {
        return;
    }
    acceptor_.async_accept(context_, [this](const boost::system::error_code& error,
                                            boost::asio::ip::tcp::socket socket) {
        if (error == boost::asio::error::operation_aborted) {
            return;
        }
        if (error) {
            log_warning("accept on port {} failed: {}", port_, error.message());
            retry_timer_.expires_after(accept_retry_delay);
            retry_timer_.async_wait([this](const boost::system::error_code& wait_error) {
                if (!wait_error) {
                    accept_next();
                }
            });
            return;
        }
        accepted_.add();
        on_accept_(std::move(socket));
        accept_next();
    });
}

} // namespace perch::gateway
