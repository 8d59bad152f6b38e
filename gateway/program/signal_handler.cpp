// SIGTERM/SIGINT -> stop, SIGHUP -> reload.
#include "gateway/program/signal_handler.hpp"

#include <csignal>

namespace perch::gateway {

signal_handler::signal_handler(boost::asio::io_context& context, std::function<void()> on_stop,
                               std::function<void()> on_reload)
    : signals_(context, SIGTERM, SIGINT, SIGHUP), on_stop_(std::move(on_stop)),
      on_reload_(std::move(on_reload)) {
    wait_next();
}

void signal_handler::wait_next() {
    signals_.async_wait([this](const boost::system::error_code& error, int signal_number) {
        if (error) {
            return;
        }
        if (signal_number == SIGHUP) {
            on_reload_();
            wait_next();
            return;
        }
        on_stop_();
    });
}

} // namespace perch::gateway
