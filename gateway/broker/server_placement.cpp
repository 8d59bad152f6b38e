// server's connection placement (docs/DESIGN.md "Connection placement"): the worker a plain-TCP
// connection runs on, and the move of its socket there before the connection starts.
#include <boost/asio/post.hpp>

#include "gateway/broker/connection_placement.hpp"
#include "gateway/broker/server.hpp"

#include <unistd.h>

namespace perch::gateway {

void server::place_connection(worker& home, boost::asio::ip::tcp::socket socket,
                              std::shared_ptr<const connection_settings> settings) {
    home.probes().start(
        std::move(socket), placement_wait,
        [this, &home, settings = std::move(settings)](boost::asio::ip::tcp::socket probed,
                                                      std::optional<std::string> user) mutable {
            if (!is_serving_) {
                // The broker is stopping (stop() ended the wait): no connection starts now.
                boost::system::error_code ignored;
                probed.close(ignored);
                release_connection_slot();
                return;
            }
            worker& target = placement_worker(user, home);
            if (&target == &home) {
                start_tcp_connection(home, std::move(probed), std::move(settings));
                return;
            }
            // The descriptor leaves this worker's reactor and joins the target's; the CONNECT
            // is still in the socket, read there by the connection.
            boost::system::error_code error;
            const auto protocol = probed.local_endpoint(error).protocol();
            const int descriptor = error ? -1 : probed.release(error);
            if (error || descriptor < 0) {
                start_tcp_connection(home, std::move(probed), std::move(settings));
                return;
            }
            boost::asio::post(target.context(), [this, &target, protocol, descriptor,
                                                 settings = std::move(settings)]() mutable {
                boost::asio::ip::tcp::socket moved(target.context());
                boost::system::error_code assign_error;
                moved.assign(protocol, descriptor, assign_error);
                if (assign_error || !is_serving_) {
                    // Not assigned: the descriptor is still this code's to close.
                    if (assign_error) {
                        ::close(descriptor);
                    }
                    boost::system::error_code ignored;
                    moved.close(ignored);
                    release_connection_slot();
                    return;
                }
                start_tcp_connection(target, std::move(moved), std::move(settings));
            });
        });
}

worker& server::placement_worker(const std::optional<std::string>& user, worker& home) {
    if (!user) {
        return home;
    }
    const std::optional<std::string> room = chat_->directory().placement_room(*user);
    if (!room) {
        return home;
    }
    std::vector<std::uint64_t> loads;
    loads.reserve(workers_.size());
    for (const auto& owned : workers_) {
        loads.push_back(owned->counters().connected_clients.value());
    }
    return *workers_[choose_worker(*room, loads, home.index())];
}

void server::start_tcp_connection(worker& owner, boost::asio::ip::tcp::socket socket,
                                  std::shared_ptr<const connection_settings> settings) {
    std::make_shared<connection>(*this, owner,
                                 std::make_unique<tcp_transport>(owner.poller(), std::move(socket)),
                                 std::move(settings))
        ->start();
}

} // namespace perch::gateway
