// The worker's epoll set: collect a batch of events without blocking, hand each to its client.
#include "gateway/stream/readiness_poller.hpp"

#include <array>
#include <cerrno>
#include <system_error>

#include <sys/epoll.h>
#include <unistd.h>

namespace perch::gateway {

namespace {

/// Events collected per epoll_wait; a busier wake-up loops.
constexpr int events_per_call = 256;

readiness_poller::token make_token(std::uint32_t index, std::uint32_t generation) {
    return (static_cast<std::uint64_t>(generation) << 32) | index;
}

int open_epoll() {
    const int descriptor = ::epoll_create1(EPOLL_CLOEXEC);
    if (descriptor < 0) {
        throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }
    return descriptor;
}

} // namespace

readiness_poller::readiness_poller(boost::asio::io_context& context)
    : context_(context), epoll_fd_(open_epoll()), watcher_(context, epoll_fd_) {}

readiness_poller::~readiness_poller() {
    boost::system::error_code ignored;
    watcher_.close(ignored);
}

readiness_poller::token readiness_poller::add(int socket, readiness_client& client) {
    std::uint32_t index = 0;
    if (free_slots_.empty()) {
        index = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    } else {
        index = free_slots_.back();
        free_slots_.pop_back();
    }
    // Generation 0 is never handed out, so that token 0 names no registration.
    slot& entry = slots_[index];
    if (entry.generation == 0) {
        entry.generation = 1;
    }
    const token registration = make_token(index, entry.generation);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = registration;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, socket, &event) != 0) {
        const int saved = errno;
        free_slots_.push_back(index);
        errno = saved;
        return 0;
    }
    entry.client = &client;
    ++watched_;
    if (!is_waiting_) {
        wait();
    }
    return registration;
}

void readiness_poller::remove(int socket, token registration) {
    const auto index = static_cast<std::uint32_t>(registration);
    const auto generation = static_cast<std::uint32_t>(registration >> 32);
    if (registration == 0 || index >= slots_.size() || slots_[index].generation != generation) {
        return;
    }
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, socket, nullptr);
    slot& entry = slots_[index];
    entry.client = nullptr;
    entry.generation = entry.generation + 1 == 0 ? 1 : entry.generation + 1;
    free_slots_.push_back(index);
    if (--watched_ == 0 && is_waiting_) {
        boost::system::error_code ignored;
        watcher_.cancel(ignored);
    }
}

void readiness_poller::wait() {
    is_waiting_ = true;
    watcher_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& error) {
                            is_waiting_ = false;
                            if (!error) {
                                dispatch();
                            }
                            if (watched_ > 0 && !is_waiting_ && watcher_.is_open()) {
                                wait();
                            }
                        });
}

void readiness_poller::dispatch() {
    std::array<epoll_event, events_per_call> events;
    while (true) {
        const int count = ::epoll_wait(epoll_fd_, events.data(), events_per_call, 0);
        if (count < 0 && errno == EINTR) {
            continue;
        }
        for (int i = 0; i < count; ++i) {
            const token registration = events[i].data.u64;
            const auto index = static_cast<std::uint32_t>(registration);
            const auto generation = static_cast<std::uint32_t>(registration >> 32);
            // A client removed by an earlier event of this batch is skipped (its slot moved on).
            if (index < slots_.size() && slots_[index].generation == generation &&
                slots_[index].client != nullptr) {
                slots_[index].client->on_readiness(events[i].events);
            }
        }
        // Asio watches epoll_fd_ edge-triggered: drain it, or a full batch would leave events
        // nobody is told about.
        if (count < events_per_call) {
            return;
        }
    }
}

} // namespace perch::gateway
