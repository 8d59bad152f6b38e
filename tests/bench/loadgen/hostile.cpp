// The hostile clients' thread: a poll() loop over plain non-blocking sockets, one small state
// machine per connection, reopened after the broker closes it.
#include "hostile.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <span>
#include <vector>

#include "scenario.hpp"
#include "wire.hpp"
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace perch::loadgen {

namespace {

constexpr std::uint64_t ms_ns = 1000000ull;
constexpr std::size_t flood_window = 64;
constexpr std::size_t output_high_bytes = 64 * 1024;

/// Inputs a malformed client sends, one per connection in turn. Each is a protocol error the
/// broker must answer by closing the connection.
const std::vector<std::vector<std::uint8_t>>& malformed_inputs() {
    static const std::vector<std::vector<std::uint8_t>> inputs = {
        // Not MQTT at all.
        {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1', '\r', '\n', '\r',
         '\n'},
        // A remaining length of five bytes.
        {0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
        // CONNECT naming another protocol.
        {0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'X', 'X', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x02, 'm', 'x'},
        // PUBLISH before CONNECT.
        {0x30, 0x05, 0x00, 0x01, 'a', 'h', 'i'},
        // Packet type 0 (reserved).
        {0x00, 0x00},
        // A CONNECT announcing 200 MB and stopping there.
        {0x10, 0x80, 0x80, 0x80, 0x60, 0x00, 0x04, 'M', 'Q', 'T', 'T'},
        // CONNECT with protocol level 9.
        {0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x09, 0x02, 0x00, 0x3C, 0x00, 0x02, 'm', 'x'},
    };
    return inputs;
}

/// A valid CONNECT followed by a SUBSCRIBE with reserved flags (0x80 instead of 0x82).
std::vector<std::uint8_t> connect_then_bad_subscribe(const std::string& client_id) {
    std::vector<std::uint8_t> out;
    append_connect(out, client_id, connect_settings{});
    const std::vector<std::uint8_t> bad = {0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00};
    out.insert(out.end(), bad.begin(), bad.end());
    return out;
}

} // namespace

const char* to_string(hostile_kind kind) {
    switch (kind) {
    case hostile_kind::stalled_connect: return "stalled_connect";
    case hostile_kind::silent: return "silent";
    case hostile_kind::never_reader: return "never_reader";
    case hostile_kind::flooder: return "flooder";
    case hostile_kind::subscription_storm: return "subscription_storm";
    case hostile_kind::guesser: return "guesser";
    case hostile_kind::malformed: return "malformed";
    }
    return "unknown";
}

struct hostile_clients::shared_counts {
    std::array<std::atomic<std::uint64_t>, hostile_kinds> opened{};
    std::array<std::atomic<std::uint64_t>, hostile_kinds> closed_by_broker{};
    std::array<std::atomic<std::uint64_t>, hostile_kinds> not_closed{};
    std::atomic<std::uint64_t> flood_sent{0};
    std::atomic<std::uint64_t> flood_refused{0};
    std::atomic<std::uint64_t> flood_acknowledged{0};
    std::atomic<std::uint64_t> storm_subscribed{0};
    std::atomic<std::uint64_t> storm_refused{0};
    std::atomic<std::uint64_t> guesses{0};
    std::atomic<std::uint64_t> guesses_accepted{0};
    std::atomic<std::uint64_t> malformed_sent{0};
};

namespace {

/// One hostile connection.
struct hostile_slot {
    hostile_kind kind = hostile_kind::silent;
    /// The slot's number within its kind.
    std::size_t number = 0;
    int fd = -1;
    /// When a closed slot opens again.
    std::uint64_t reopen_ns = 0;
    /// When the slot opened; a connection still open past the close bound is counted.
    std::uint64_t opened_ns = 0;
    std::uint64_t generation = 0;
    int protocol_level = level_3_1_1;
    bool is_connected = false;
    /// True once the slot stopped sending and only waits for the broker to close it.
    bool is_done_sending = false;
    std::vector<std::uint8_t> input;
    std::vector<std::uint8_t> output;
    std::size_t output_offset = 0;
    /// flooder: QoS 1 messages not yet acknowledged; storm: filters sent, SUBACKs received.
    std::size_t unacknowledged = 0;
    std::size_t filters_sent = 0;
    std::size_t subacks = 0;
    std::uint16_t next_packet_id = 1;

    std::size_t pending() const { return output.size() - output_offset; }
    std::uint16_t take_packet_id() {
        const std::uint16_t id = next_packet_id;
        next_packet_id = static_cast<std::uint16_t>(next_packet_id % 65535 + 1);
        return id;
    }
};

/// The source address of `kind`: 127.77.0.(kind + 1).
in_addr source_of(hostile_kind kind) {
    in_addr address{};
    address.s_addr = htonl((127u << 24) | (77u << 16) | (static_cast<unsigned>(kind) + 1));
    return address;
}

/// Whether the broker must close a connection of `kind` by itself (the others may stay open: they
/// are let go and opened again after the close bound, without counting).
bool must_be_closed(hostile_kind kind) {
    return kind == hostile_kind::stalled_connect || kind == hostile_kind::silent ||
           kind == hostile_kind::guesser || kind == hostile_kind::malformed;
}

/// Whether the slot's kind reads what the broker sends (the silent ones only notice a close).
bool reads(hostile_kind kind) {
    return kind != hostile_kind::silent && kind != hostile_kind::never_reader &&
           kind != hostile_kind::stalled_connect;
}

} // namespace

hostile_clients::hostile_clients(hostile_settings settings)
    : settings_(std::move(settings)), counts_(std::make_unique<shared_counts>()) {}

hostile_clients::~hostile_clients() {
    stop();
}

void hostile_clients::start() {
    is_stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void hostile_clients::stop() {
    is_stopping_ = true;
    if (thread_.joinable()) {
        thread_.join();
    }
}

hostile_report hostile_clients::report() const {
    hostile_report out;
    for (std::size_t kind = 0; kind < hostile_kinds; ++kind) {
        out.opened[kind] = counts_->opened[kind].load();
        out.closed_by_broker[kind] = counts_->closed_by_broker[kind].load();
        out.not_closed[kind] = counts_->not_closed[kind].load();
    }
    out.flood_sent = counts_->flood_sent.load();
    out.flood_refused = counts_->flood_refused.load();
    out.flood_acknowledged = counts_->flood_acknowledged.load();
    out.storm_subscribed = counts_->storm_subscribed.load();
    out.storm_refused = counts_->storm_refused.load();
    out.guesses = counts_->guesses.load();
    out.guesses_accepted = counts_->guesses_accepted.load();
    out.malformed_sent = counts_->malformed_sent.load();
    return out;
}

std::string hostile_clients::report_fields() const {
    const hostile_report r = report();
    std::string out;
    char field[160];
    for (std::size_t kind = 0; kind < hostile_kinds; ++kind) {
        const char* name = to_string(static_cast<hostile_kind>(kind));
        std::snprintf(field, sizeof field, " %s_opened=%llu %s_closed=%llu %s_not_closed=%llu",
                      name, static_cast<unsigned long long>(r.opened[kind]), name,
                      static_cast<unsigned long long>(r.closed_by_broker[kind]), name,
                      static_cast<unsigned long long>(r.not_closed[kind]));
        out += field;
    }
    std::snprintf(field, sizeof field,
                  " flood_sent=%llu flood_refused=%llu flood_acknowledged=%llu "
                  "storm_subscribed=%llu storm_refused=%llu",
                  static_cast<unsigned long long>(r.flood_sent),
                  static_cast<unsigned long long>(r.flood_refused),
                  static_cast<unsigned long long>(r.flood_acknowledged),
                  static_cast<unsigned long long>(r.storm_subscribed),
                  static_cast<unsigned long long>(r.storm_refused));
    out += field;
    std::snprintf(field, sizeof field, " guesses=%llu guesses_accepted=%llu malformed_sent=%llu",
                  static_cast<unsigned long long>(r.guesses),
                  static_cast<unsigned long long>(r.guesses_accepted),
                  static_cast<unsigned long long>(r.malformed_sent));
    out += field;
    return out;
}

void hostile_clients::run() {
    if (settings_.nice != 0) {
        // Linux gives each thread its own nice value: this lowers this thread alone.
        const auto thread_id = static_cast<id_t>(::syscall(SYS_gettid));
        if (::setpriority(PRIO_PROCESS, thread_id, settings_.nice) != 0) {
            std::perror("hostile: setpriority");
        }
    }
    std::vector<hostile_slot> slots;
    for (std::size_t kind = 0; kind < hostile_kinds; ++kind) {
        for (std::size_t n = 0; n < settings_.counts[kind]; ++n) {
            hostile_slot slot;
            slot.kind = static_cast<hostile_kind>(kind);
            slot.number = n;
            // Half the flooders and storms speak 5.0, to see its reason codes.
            slot.protocol_level = (slot.kind == hostile_kind::flooder ||
                                   slot.kind == hostile_kind::subscription_storm ||
                                   slot.kind == hostile_kind::guesser) &&
                                          n % 2 == 1
                                      ? level_5
                                      : level_3_1_1;
            // Spread the first opens over a second.
            slot.reopen_ns =
                now_ns() + (n * 1000 / std::max<std::size_t>(settings_.counts[kind], 1)) * ms_ns;
            slots.push_back(std::move(slot));
        }
    }
    const std::size_t flooders =
        std::max<std::size_t>(settings_.counts[static_cast<std::size_t>(hostile_kind::flooder)], 1);
    const double flood_per_ns_each = static_cast<double>(settings_.flood_messages_per_second) /
                                     1e9 / static_cast<double>(flooders);
    std::vector<std::uint64_t> flood_sent_each(slots.size(), 0);
    std::vector<std::uint64_t> flood_start_ns(slots.size(), 0);
    const std::vector<std::uint8_t> flood_payload(settings_.flood_payload_bytes, 'f');
    sockaddr_in broker{};
    broker.sin_family = AF_INET;
    broker.sin_addr = settings_.broker_address;
    broker.sin_port = htons(settings_.broker_port);
    const auto close_bound_ns = static_cast<std::uint64_t>(settings_.close_bound_seconds * 1e9);
    std::vector<pollfd> polls;
    std::vector<std::size_t> polled;
    std::vector<std::uint8_t> scratch(64 * 1024);
    std::size_t malformed_turn = 0;

    auto close_slot = [&](hostile_slot& slot, bool by_broker, std::uint64_t reopen_after_ns) {
        if (slot.fd >= 0) {
            ::close(slot.fd);
        }
        const auto kind = static_cast<std::size_t>(slot.kind);
        if (by_broker) {
            ++counts_->closed_by_broker[kind];
        }
        slot.fd = -1;
        slot.is_connected = false;
        slot.is_done_sending = false;
        slot.input.clear();
        slot.output.clear();
        slot.output_offset = 0;
        slot.unacknowledged = 0;
        slot.filters_sent = 0;
        slot.subacks = 0;
        slot.reopen_ns = now_ns() + reopen_after_ns;
    };

    auto open_slot = [&](std::size_t index) {
        hostile_slot& slot = slots[index];
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            slot.reopen_ns = now_ns() + 100 * ms_ns;
            return;
        }
        sockaddr_in source{};
        source.sin_family = AF_INET;
        source.sin_addr = source_of(slot.kind);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
            (::connect(fd, reinterpret_cast<sockaddr*>(&broker), sizeof broker) != 0 &&
             errno != EINPROGRESS)) {
            ::close(fd);
            slot.reopen_ns = now_ns() + 100 * ms_ns;
            return;
        }
        slot.fd = fd;
        slot.opened_ns = now_ns();
        ++slot.generation;
        ++counts_->opened[static_cast<std::size_t>(slot.kind)];
        const std::string client_id = std::string("hostile-") + to_string(slot.kind) + "-" +
                                      std::to_string(slot.number) + "-" +
                                      std::to_string(slot.generation);
        connect_settings settings;
        settings.protocol_level = slot.protocol_level;
        switch (slot.kind) {
        case hostile_kind::stalled_connect:
            // Every other one sends nothing at all; the rest two bytes of a CONNECT.
            if (slot.generation % 2 == 0) {
                slot.output = {0x10, 0x20};
            }
            slot.is_done_sending = true;
            break;
        case hostile_kind::silent:
            settings.keep_alive_seconds = 5;
            append_connect(slot.output, client_id, settings);
            slot.is_done_sending = true;
            break;
        case hostile_kind::never_reader:
            append_connect(slot.output, client_id, settings);
            append_subscribe(slot.output, 1, "soak/flood/#", 0, slot.protocol_level);
            slot.is_done_sending = true;
            break;
        case hostile_kind::flooder:
        case hostile_kind::subscription_storm:
            append_connect(slot.output, client_id, settings);
            break;
        case hostile_kind::guesser: {
            settings.user_name = slot.generation % 2 == 0
                                     ? settings_.guessed_user
                                     : "nobody" + std::to_string(slot.generation % 1000);
            settings.password = "guess-" + std::to_string(slot.generation);
            append_connect(slot.output, client_id, settings);
            ++counts_->guesses;
            slot.is_done_sending = true;
            break;
        }
        case hostile_kind::malformed: {
            const auto& inputs = malformed_inputs();
            const std::size_t turn = malformed_turn++ % (inputs.size() + 1);
            slot.output =
                turn < inputs.size() ? inputs[turn] : connect_then_bad_subscribe(client_id);
            ++counts_->malformed_sent;
            slot.is_done_sending = true;
            break;
        }
        }
        if (slot.kind == hostile_kind::flooder) {
            flood_start_ns[index] = 0;
            flood_sent_each[index] = 0;
        }
    };

    auto top_up_flood = [&](std::size_t index) {
        hostile_slot& slot = slots[index];
        const std::uint64_t now = now_ns();
        if (flood_start_ns[index] == 0) {
            flood_start_ns[index] = now;
        }
        const auto due = static_cast<std::uint64_t>(
            static_cast<double>(now - flood_start_ns[index]) * flood_per_ns_each);
        while (flood_sent_each[index] < due && slot.pending() < output_high_bytes) {
            if (slot.protocol_level == level_5) {
                if (slot.unacknowledged >= flood_window) {
                    break;
                }
                append_publish(slot.output, "soak/flood/" + std::to_string(slot.number), 1,
                               slot.take_packet_id(), flood_payload, slot.protocol_level);
                ++slot.unacknowledged;
            } else {
                append_publish(slot.output, "soak/flood/" + std::to_string(slot.number), 0, 0,
                               flood_payload, slot.protocol_level);
            }
            ++flood_sent_each[index];
            ++counts_->flood_sent;
        }
        // A flooder that falls behind its schedule does not make up for it in one burst.
        if (due > flood_sent_each[index] + 1000) {
            flood_sent_each[index] = due - 1000;
        }
    };

    auto top_up_storm = [&](hostile_slot& slot) {
        std::size_t batch = 0;
        while (slot.filters_sent < settings_.storm_filters && batch < 50 &&
               slot.pending() < output_high_bytes) {
            append_subscribe(slot.output, slot.take_packet_id(),
                             "soak/storm/" + std::to_string(slot.number) + "/" +
                                 std::to_string(slot.filters_sent) + "/+",
                             0, slot.protocol_level);
            ++slot.filters_sent;
            ++batch;
        }
    };

    /// Handles the packets at the front of slot.input; false when the slot closed.
    auto handle_input = [&](std::size_t index) {
        hostile_slot& slot = slots[index];
        std::size_t at = 0;
        while (at < slot.input.size()) {
            packet_view packet;
            std::size_t consumed = 0;
            const parse_status status = parse_packet(std::span(slot.input).subspan(at), packet,
                                                     consumed, slot.protocol_level);
            if (status == parse_status::need_more) {
                break;
            }
            if (status == parse_status::malformed) {
                close_slot(slot, false, 100 * ms_ns);
                return false;
            }
            at += consumed;
            switch (packet.type) {
            case packet_type::connack: {
                const bool is_accepted = packet.payload.size() >= 2 && packet.payload[1] == 0;
                if (slot.kind == hostile_kind::guesser) {
                    counts_->guesses_accepted += is_accepted ? 1 : 0;
                    close_slot(slot, !is_accepted, 0);
                    return false;
                }
                if (!is_accepted) {
                    close_slot(slot, true, 1000 * ms_ns);
                    return false;
                }
                slot.is_connected = true;
                break;
            }
            case packet_type::puback:
                slot.unacknowledged -= slot.unacknowledged > 0 ? 1 : 0;
                if (!packet.payload.empty() && packet.payload[0] >= 0x80) {
                    ++counts_->flood_refused;
                } else {
                    ++counts_->flood_acknowledged;
                }
                break;
            case packet_type::suback:
                ++slot.subacks;
                if (!packet.payload.empty() && packet.payload[0] >= 0x80) {
                    ++counts_->storm_refused;
                } else {
                    ++counts_->storm_subscribed;
                }
                break;
            case packet_type::disconnect: close_slot(slot, true, 1000 * ms_ns); return false;
            default: break;
            }
        }
        slot.input.erase(slot.input.begin(), slot.input.begin() + static_cast<long>(at));
        if (slot.kind == hostile_kind::subscription_storm && slot.is_connected &&
            slot.filters_sent >= settings_.storm_filters && slot.subacks >= slot.filters_sent) {
            // All answered: leave, and come back for another storm.
            append_disconnect(slot.output);
            slot.is_done_sending = true;
        }
        return true;
    };

    while (!is_stopping_) {
        const std::uint64_t now = now_ns();
        polls.clear();
        polled.clear();
        for (std::size_t index = 0; index < slots.size(); ++index) {
            hostile_slot& slot = slots[index];
            if (slot.fd < 0) {
                if (now >= slot.reopen_ns) {
                    open_slot(index);
                }
                if (slot.fd < 0) {
                    continue;
                }
            }
            if (now > slot.opened_ns && now - slot.opened_ns > close_bound_ns) {
                counts_->not_closed[static_cast<std::size_t>(slot.kind)] +=
                    must_be_closed(slot.kind) ? 1 : 0;
                close_slot(slot, false, 0);
                continue;
            }
            if (slot.is_connected && !slot.is_done_sending) {
                if (slot.kind == hostile_kind::flooder) {
                    top_up_flood(index);
                } else if (slot.kind == hostile_kind::subscription_storm) {
                    top_up_storm(slot);
                }
            }
            short events = POLLRDHUP;
            events |= reads(slot.kind) ? POLLIN : 0;
            events |= slot.pending() > 0 ? POLLOUT : 0;
            polls.push_back({slot.fd, events, 0});
            polled.push_back(index);
        }
        const int ready = ::poll(polls.data(), polls.size(), 2);
        if (ready <= 0) {
            continue;
        }
        for (std::size_t p = 0; p < polls.size(); ++p) {
            const short revents = polls[p].revents;
            if (revents == 0) {
                continue;
            }
            hostile_slot& slot = slots[polled[p]];
            if ((revents & POLLOUT) != 0 && slot.pending() > 0) {
                const ssize_t written = ::send(slot.fd, slot.output.data() + slot.output_offset,
                                               slot.pending(), MSG_NOSIGNAL);
                if (written > 0) {
                    slot.output_offset += static_cast<std::size_t>(written);
                    if (slot.output_offset == slot.output.size()) {
                        slot.output.clear();
                        slot.output_offset = 0;
                    }
                } else if (written < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    close_slot(slot, true, 200 * ms_ns);
                    continue;
                }
            }
            if ((revents & POLLIN) != 0 && reads(slot.kind)) {
                const ssize_t got = ::recv(slot.fd, scratch.data(), scratch.size(), 0);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    close_slot(slot, true, 200 * ms_ns);
                    continue;
                }
                if (got > 0) {
                    slot.input.insert(slot.input.end(), scratch.data(), scratch.data() + got);
                    if (!handle_input(polled[p])) {
                        continue;
                    }
                }
            }
            if ((revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0 && slot.fd >= 0) {
                close_slot(slot, true, 200 * ms_ns);
            }
        }
    }
    for (auto& slot : slots) {
        if (slot.fd >= 0) {
            ::close(slot.fd);
            slot.fd = -1;
        }
    }
}

} // namespace perch::loadgen
