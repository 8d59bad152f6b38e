// A worker's own epoll set for its plain TCP sockets, watched by the worker's io_context as one
// descriptor. An idle socket then costs a 16-byte slot here and nothing in Asio (no reactor state,
// no pending operation, no handler), and one wake-up hands every ready socket of the worker to its
// connection in one handler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace perch::gateway {

/// What a socket registered with a readiness_poller is told.
class readiness_client {
public:
    /// `events` (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP) arrived for the socket.
    /// Edge-triggered: each event is reported once, when the socket's state changes.
    virtual void on_readiness(std::uint32_t events) = 0;

protected:
    ~readiness_client() = default;
};

/// One epoll set per worker. Every member function runs on the worker's thread.
class readiness_poller {
public:
    /// Throws std::system_error when the kernel refuses an epoll set.
    explicit readiness_poller(boost::asio::io_context& context);
    ~readiness_poller();
    readiness_poller(const readiness_poller&) = delete;
    readiness_poller& operator=(const readiness_poller&) = delete;

    /// A registration; 0 names none.
    using token = std::uint64_t;

    /// Watches `socket` for input, output and hang-up (edge-triggered) on behalf of `client`,
    /// which must call remove() before it goes away. Returns 0 with errno set when the kernel
    /// refuses (the socket is then not watched).
    token add(int socket, readiness_client& client);

    /// Stops watching `socket`: `registration`'s client is not called again, not even for
    /// events already collected in the current wake-up. Call before closing the socket.
    void remove(int socket, token registration);

    /// The io_context the poller's wake-ups run on.
    boost::asio::io_context& context() { return context_; }

    /// Sockets currently watched.
    std::size_t size() const { return watched_; }

private:
    struct slot {
        readiness_client* client = nullptr;
        /// Bumped on every remove(), so a stale token never reaches a new client in the slot.
        std::uint32_t generation = 0;
    };
    void wait();
    void dispatch();

    boost::asio::io_context& context_;
    int epoll_fd_ = -1;
    /// epoll_fd_ as Asio sees it: readable when a watched socket has an event.
    boost::asio::posix::stream_descriptor watcher_;
    std::vector<slot> slots_;
    std::vector<std::uint32_t> free_slots_;
    std::size_t watched_ = 0;
    /// An async_wait on watcher_ is outstanding (kept only while sockets are watched, so that an
    /// idle worker's io_context can run out of work and stop).
    bool is_waiting_ = false;
};

} // namespace perch::gateway
