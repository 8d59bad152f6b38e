// The epoll loop behind the load generator's clients. Level-triggered: EPOLLIN always, EPOLLOUT
// only while a connection has output the socket did not take (or its TLS handshake waits to write).
#include "client_loop.hpp"

#include <cerrno>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
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
    for (std::size_t index = 0; index < clients_.size(); ++index) {
        close_client(index);
        if (clients_[index].ticket != nullptr) {
            SSL_SESSION_free(clients_[index].ticket);
        }
    }
    ::close(epoll_fd_);
    if (tls_context_ != nullptr) {
        SSL_CTX_free(tls_context_);
    }
}

void client_loop::use_tls(const std::string& ca_file) {
    tls_context_ = SSL_CTX_new(TLS_client_method());
    if (tls_context_ == nullptr) {
        throw std::runtime_error("cannot create a TLS context");
    }
    SSL_CTX_set_min_proto_version(tls_context_, TLS1_3_VERSION);
    if (SSL_CTX_load_verify_locations(tls_context_, ca_file.c_str(), nullptr) != 1) {
        throw std::runtime_error("cannot load the CA file " + ca_file);
    }
    SSL_CTX_set_verify(tls_context_, SSL_VERIFY_PEER, nullptr);
    // Idle connections give their record buffers back; 19,000 of them would hold ~650 MB.
    SSL_CTX_set_mode(tls_context_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                       SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Tickets go to each client (keep_ticket), not to OpenSSL's cache keyed by session id.
    SSL_CTX_set_session_cache_mode(tls_context_,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(tls_context_, &client_loop::keep_ticket);
    SSL_CTX_set_app_data(tls_context_, this);
}

int client_loop::keep_ticket(SSL* tls, SSL_SESSION* session) {
    auto* self = static_cast<client_loop*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(tls)));
    const auto index = reinterpret_cast<std::uintptr_t>(SSL_get_app_data(tls));
    client& c = self->clients_[index];
    if (c.ticket != nullptr) {
        SSL_SESSION_free(c.ticket);
    }
    c.ticket = session;
    return 1; // the reference is kept
}

std::size_t client_loop::open(std::string_view client_id) {
    const std::size_t index = clients_.size();
    clients_.emplace_back();
    start(index, client_id);
    return index;
}

void client_loop::drop(std::size_t index) {
    close_client(index);
}

void client_loop::reopen(std::size_t index, std::string_view client_id) {
    close_client(index);
    client& c = clients_[index];
    --closed_count_;
    if (c.is_connected) {
        --connected_count_;
    }
    c.is_closed = false;
    c.is_connected = false;
    c.subacks_received = 0;
    c.input.clear();
    c.output.clear();
    c.output_offset = 0;
    c.is_waiting_writable = false;
    c.is_tls_ready = false;
    c.was_resumed = false;
    start(index, client_id);
}

void client_loop::start(std::size_t index, std::string_view client_id) {
    client& c = clients_[index];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        c.is_closed = true;
        ++closed_count_;
        return;
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
        return;
    }
    if (tls_context_ != nullptr) {
        c.tls = SSL_new(tls_context_);
        if (c.tls == nullptr) {
            close_client(index);
            return;
        }
        SSL_set_app_data(c.tls, reinterpret_cast<void*>(static_cast<std::uintptr_t>(index)));
        SSL_set_fd(c.tls, c.fd);
        SSL_set_connect_state(c.tls);
        if (is_resuming_ && c.ticket != nullptr) {
            SSL_set_session(c.tls, c.ticket);
        }
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT;
    event.data.u64 = index;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &event);
    c.is_waiting_writable = true;
    append_connect(c.output, client_id, settings_);
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
        if (!clients_[index].is_waiting_writable &&
            (clients_[index].tls == nullptr || clients_[index].is_tls_ready)) {
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
        if (clients_[index].tls != nullptr) {
            if (!clients_[index].is_tls_ready && !advance_handshake(index)) {
                continue;
            }
            if (events[i].events & EPOLLOUT) {
                write_tls(index);
            }
            if (!clients_[index].is_closed) {
                read_tls(index, packets);
            }
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

bool client_loop::advance_handshake(std::size_t index) {
    client& c = clients_[index];
    const int result = SSL_do_handshake(c.tls);
    if (result == 1) {
        c.is_tls_ready = true;
        c.was_resumed = SSL_session_reused(c.tls) == 1;
        watch_writable(index, false);
        write_tls(index);
        return !c.is_closed;
    }
    switch (SSL_get_error(c.tls, result)) {
    case SSL_ERROR_WANT_READ: watch_writable(index, false); return false;
    case SSL_ERROR_WANT_WRITE: watch_writable(index, true); return false;
    default:
        ERR_clear_error();
        close_client(index);
        return false;
    }
}

void client_loop::read_tls(std::size_t index, std::size_t& packets) {
    while (!clients_[index].is_closed) {
        const int count =
            SSL_read(clients_[index].tls, scratch_.data(), static_cast<int>(scratch_.size()));
        if (count > 0) {
            consume(index, std::span(scratch_.data(), static_cast<std::size_t>(count)), packets);
            continue;
        }
        const int error = SSL_get_error(clients_[index].tls, count);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            close_client(index);
        }
        return;
    }
}

void client_loop::write_tls(std::size_t index) {
    client& c = clients_[index];
    while (c.pending_bytes() > 0) {
        const int count = SSL_write(c.tls, c.output.data() + c.output_offset,
                                    static_cast<int>(c.pending_bytes()));
        if (count > 0) {
            c.output_offset += static_cast<std::size_t>(count);
            continue;
        }
        const int error = SSL_get_error(c.tls, count);
        if (error == SSL_ERROR_WANT_WRITE) {
            watch_writable(index, true);
            return;
        }
        if (error != SSL_ERROR_WANT_READ) {
            ERR_clear_error();
            close_client(index);
        }
        return;
    }
    c.output.clear();
    c.output_offset = 0;
    watch_writable(index, false);
}

void client_loop::read_from(std::size_t index, std::size_t& packets) {
    const ssize_t count = ::read(clients_[index].fd, scratch_.data(), scratch_.size());
    if (count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR)) {
        close_client(index);
        return;
    }
    if (count < 0) {
        return;
    }
    consume(index, std::span(scratch_.data(), static_cast<std::size_t>(count)), packets);
}

void client_loop::consume(std::size_t index, std::span<const std::uint8_t> bytes,
                          std::size_t& packets) {
    client& c = clients_[index];
    // Parse straight from the scratch buffer unless a partial packet waits in the client's own.
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
    if (c.tls != nullptr) {
        if (c.is_tls_ready) {
            write_tls(index);
        }
        return;
    }
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
    if (c.tls != nullptr) {
        // Quiet: nothing more is sent, and OpenSSL keeps the session resumable (freeing a
        // connection that was not shut down would mark its session unusable).
        SSL_set_quiet_shutdown(c.tls, 1);
        SSL_shutdown(c.tls);
        SSL_free(c.tls);
        c.tls = nullptr;
    }
    c.is_tls_ready = false;
    c.is_closed = true;
    ++closed_count_;
}

} // namespace perch::loadgen
