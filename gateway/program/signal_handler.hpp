// Turns SIGTERM/SIGINT into a clean stop and SIGHUP into a reload, on the main thread's
// io_context. Knows nothing about what stopping or reloading means.
#pragma once

#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

namespace perch::gateway {

/// Watches SIGTERM, SIGINT and SIGHUP from construction on (install it before starting threads so
/// that no signal finds the default action).
class signal_handler {
public:
    /// `on_stop` runs on `context`'s thread for SIGTERM and SIGINT, `on_reload` for SIGHUP.
    signal_handler(boost::asio::io_context& context, std::function<void()> on_stop,
                   std::function<void()> on_reload);

private:
    void wait_next();

    boost::asio::signal_set signals_;
    std::function<void()> on_stop_;
    std::function<void()> on_reload_;
};

} // namespace perch::gateway
