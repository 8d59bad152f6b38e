// The epoll loop behind the load generator's clients. Level-triggered: EPOLLIN always, EPOLLOUT
// only while a connection has output the socket did not take.
#include "client_loop.hpp"

#include <cerrno>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::loadgen {

namespace {

constexpr std::size_t scratch_bytes = 256 * 1024;

/// Source address number `n` of the rotation: 127.1.B.C with B in 1..64 and C in 1..250.
in_addr source_address(std::uint32_t n) {
    const std::uint32_t slot = n % 16000;
    const std::uint32_t host =
        (127u << 24) | (1u << 16) | ((1 + slot / 250) << 8) | (1 + slot % 250);
    in_addr address{};
    address.s_addr = htonl(host);
    return address;
}

} // namespace

client_loop::client_loop(in_addr broker_address, std::uint16_t broker_port)
    : scratch_(scratch_bytes) {
    broker_.sin_family = AF_INET;
    broker_.sin_addr = broker_address;
    broker_.sin_port = htons(broker_port);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
        throw std::runtime_error("epoll_create1 failed");
    }
}

client_loop::~client_loop() {
    for (client& c : clients_) {
        if (c.fd >= 0) {
            ::close(c.fd);
        }
    }
    ::close(epoll_fd_);
}

std::size_t client_loop::open(std::string_view client_id) {
    const std::size_t index = clients_.size();
    clients_.emplace_back();
    client& c = clients_.back();
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        c.is_closed = true;
        ++closed_count_;
        return index;
    }
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Let connect() pick the port per destination, so each source address serves many brokers.
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr = source_address(next_source_++);
    const bool is_bound = bind(c.fd, reinterpret_cast<sockaddr*>(&source), sizeof source) == 0;
    const int connected =
        is_bound ? connect(c.fd, reinterpret_cast<sockaddr*>(&broker_), sizeof broker_) : -1;
    if (!is_bound || (connected < 0 && errno != EINPROGRESS)) {
        close_client(index);
        return index;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT;
    event.data.u64 = index;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &event);
    c.is_waiting_writable = true;
    append_connect(c.output, client_id, settings_);
    return index;
}

void client_loop::mark_dirty(std::size_t index) {
    client& c = clients_[index];
    if (!c.is_dirty && !c.is_closed) {
        c.is_dirty = true;
        dirty_.push_back(index);
    }
}

void client_loop::flush() {
    for (const std::size_t index : dirty_) {
        clients_[index].is_dirty = false;
        if (!clients_[index].is_waiting_writable) {
            write_to(index);
        }
    }
    dirty_.clear();
}

std::size_t client_loop::poll(int timeout_ms) {
    epoll_event events[256];
    const int ready = epoll_wait(epoll_fd_, events, 256, timeout_ms);
    std::size_t packets = 0;
    for (int i = 0; i < ready; ++i) {
        const std::size_t index = events[i].data.u64;
        if (clients_[index].is_closed) {
            continue;
        }
        if (events[i].events & EPOLLOUT) {
            write_to(index);
        }
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            read_from(index, packets);
        }
    }
    flush();
    return packets;
}

void client_loop::read_from(std::size_t index, std::size_t& packets) {
    client& c = clients_[index];
    const ssize_t count = ::read(c.fd, scratch_.data(), scratch_.size());
    if (count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR)) {
        close_client(index);
        return;
    }
    if (count < 0) {
        return;
    }
    // Parse straight from the scratch buffer unless a partial packet waits in the client's own.
    std::span<const std::uint8_t> bytes(scratch_.data(), static_cast<std::size_t>(count));
    if (!c.input.empty()) {
        c.input.insert(c.input.end(), bytes.begin(), bytes.end());
        bytes = c.input;
    }
    std::size_t offset = 0;
    while (true) {
        packet_view packet;
        std::size_t consumed = 0;
        const parse_status status =
            parse_packet(bytes.subspan(offset), packet, consumed, settings_.protocol_level);
        if (status == parse_status::malformed) {
            close_client(index);
            return;
        }
        if (status == parse_status::need_more) {
            break;
        }
        offset += consumed;
        ++packets;
        if (packet.type == packet_type::connack && packet.payload.size() >= 2 &&
            packet.payload[1] == 0 && !clients_[index].is_connected) {
            clients_[index].is_connected = true;
            ++connected_count_;
        } else if (packet.type == packet_type::suback) {
            ++clients_[index].subacks_received;
        }
        if (handler_) {
            handler_(index, packet);
        }
    }
    client& after = clients_[index];
    if (after.input.empty()) {
        after.input.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset), bytes.end());
    } else {
        after.input.erase(after.input.begin(),
                          after.input.begin() + static_cast<std::ptrdiff_t>(offset));
    }
}

void client_loop::write_to(std::size_t index) {
    client& c = clients_[index];
    while (c.pending_bytes() > 0) {
        const ssize_t count =
            ::send(c.fd, c.output.data() + c.output_offset, c.pending_bytes(), MSG_NOSIGNAL);
        if (count < 0) {
            if (errno == EAGAIN) {
                watch_writable(index, true);
                return;
            }
            if (errno == EINTR) {
                continue;
            }
            close_client(index);
            return;
        }
        c.output_offset += static_cast<std::size_t>(count);
    }
    c.output.clear();
    c.output_offset = 0;
    watch_writable(index, false);
}

void client_loop::watch_writable(std::size_t index, bool is_wanted) {
    client& c = clients_[index];
    if (c.is_waiting_writable == is_wanted) {
        return;
    }
    epoll_event event{};
    event.events = is_wanted ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    event.data.u64 = index;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &event);
    c.is_waiting_writable = is_wanted;
}

void client_loop::close_client(std::size_t index) {
    client& c = clients_[index];
    if (c.is_closed) {
        return;
    }
    if (c.fd >= 0) {
        ::close(c.fd);
        c.fd = -1;
    }
    c.is_closed = true;
    ++closed_count_;
}

} // namespace perch::loadgen
