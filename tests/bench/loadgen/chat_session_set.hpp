// The chat scenario's users: one login of every user, then chat steps, reconnect storms and
// log-out on the same connections (see chat.cpp for the scenario, soak.cpp for the soak).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_set>
#include <vector>

#include "scenario.hpp"

namespace perch::loadgen {

inline constexpr double p99_limit_us = 10000;

/// Users and rooms: user k is in room k / room_size; the last room may be smaller.
struct chat_layout {
    std::size_t users = 0;
    std::size_t room_size = 0;

    std::size_t room_of(std::size_t user) const { return user / room_size; }
    std::size_t rooms() const { return (users + room_size - 1) / room_size; }
    std::size_t members_of(std::size_t room) const {
        return std::min(room_size, users - room * room_size);
    }
};

/// What the login storm measured.
struct login_outcome {
    double seconds = 0;
    std::size_t accepted = 0;
    std::size_t failed = 0;
};

/// What one chat step measured besides the common figures.
struct chat_step {
    run_measurement measurement;
    /// QoS 1 publishes the broker had not acknowledged when the step ended.
    std::uint64_t unacknowledged = 0;
    /// Users online when the step began whose connection had closed when it ended (a lost
    /// delivery then is the connection's, not the broker's dropping).
    std::size_t disconnected = 0;
    double rate_per_user = 0;
};

/// What one reconnect storm measured.
struct storm_outcome {
    /// From the drop until every user's CONNACK arrived (or the timeout).
    double seconds = 0;
    double broker_cpu_seconds = 0;
    double loadgen_cpu_seconds = 0;
    /// Bytes the broker wrote to storage from the drop until every user was back
    /// (/proc/PID/io write_bytes): the resumed sessions' records and the messages sent meanwhile.
    /// Without storm messages: from the first CONNECT until every user was back and the broker
    /// had then written nothing for the settle time (the logins' own writes only).
    std::uint64_t written_bytes = 0;
    /// Without storm messages: bytes written from the drop until the broker had written nothing
    /// for the settle time (the ended connections' session records and cursors), and the users
    /// dropped.
    std::uint64_t logout_written_bytes = 0;
    std::size_t dropped = 0;
    std::size_t back = 0;
    std::size_t resumed = 0;
    /// CONNECTs that were refused or failed and were tried again.
    std::size_t retries = 0;
    /// Distinct deliveries expected and received: the messages sent before the drop and the
    /// first ones after it, each to every other member of the sender's room.
    std::uint64_t expected = 0;
    std::uint64_t delivered = 0;
    /// Of those, the deliveries of the messages sent before the drop.
    std::uint64_t expected_before = 0;
    std::uint64_t delivered_before = 0;
    /// Publish to first delivery of the messages sent after reconnecting, in microseconds.
    std::vector<double> latencies_us;
};

inline double percentile_of(std::vector<double> values, double fraction) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(std::ceil(fraction * values.size()));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

inline double mebibytes(std::uint64_t bytes) {
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

/// One login of every user, then any number of chat steps on the same connections.
class chat_session_set {
public:
    explicit chat_session_set(const scenario_options& options)
        : options_(options), layout_{options.users, options.room_size},
          loop_(options.broker_address, options.broker_port), topics_(options.users),
          packet_ids_(options.users, 0), sequences_(options.users, 0) {
        if (!options.tls_ca_file.empty()) {
            loop_.use_tls(options.tls_ca_file);
        }
        for (std::size_t user = 0; user < layout_.users; ++user) {
            topics_[user] =
                "chat/room/r" + std::to_string(layout_.room_of(user)) + "/u" + std::to_string(user);
        }
        loop_.set_handler(
            [this](std::size_t index, const packet_view& packet) { handle(index, packet); });
    }

    /// Connects every user, at most options.window CONNECTs in flight, then waits until the
    /// broker has been quiet for half a second (presence and session set-up traffic).
    login_outcome log_in() {
        const std::uint64_t start_ns = now_ns();
        const std::uint64_t deadline_ns =
            start_ns + static_cast<std::uint64_t>(options_.timeout_seconds * 1e9);
        const std::size_t window = std::max<std::uint64_t>(options_.window, 1);
        std::size_t opened = 0;
        while (now_ns() < deadline_ns) {
            const std::size_t settled = loop_.connected_count() + loop_.closed_count();
            while (opened < layout_.users && opened < settled + window) {
                loop_.set_connect_settings(user_settings(opened));
                loop_.open(loop_.settings().user_name);
                ++opened;
            }
            if (opened == layout_.users && settled >= layout_.users) {
                break;
            }
            loop_.poll(5);
        }
        login_outcome outcome;
        outcome.seconds = static_cast<double>(now_ns() - start_ns) / 1e9;
        outcome.accepted = loop_.connected_count();
        outcome.failed = layout_.users - outcome.accepted;
        wait_until_quiet();
        return outcome;
    }

    /// Subscribes every user to its room's topics (brokers without a chat layer). False when a
    /// SUBACK is missing after the timeout or refused the filter.
    bool subscribe_rooms() {
        for (std::size_t user = 0; user < loop_.size(); ++user) {
            const std::string filter = "chat/room/r" + std::to_string(layout_.room_of(user)) + "/+";
            append_subscribe(loop_.at(user).output, 1, filter, 1, loop_.protocol_level(), true);
            loop_.mark_dirty(user);
        }
        loop_.flush();
        const std::uint64_t deadline_ns =
            now_ns() + static_cast<std::uint64_t>(options_.timeout_seconds * 1e9);
        std::size_t next = 0;
        while (now_ns() < deadline_ns) {
            while (next < loop_.size() &&
                   (loop_.at(next).subacks_received > 0 || !is_online(next))) {
                ++next;
            }
            if (next == loop_.size()) {
                return refused_subscriptions_ == 0;
            }
            loop_.poll(10);
        }
        return false;
    }

    /// Chats at `rate_per_user` messages per second per user for `duration_seconds`, then waits
    /// for what is still on its way (until all arrived, 2 s without progress, or the timeout).
    chat_step chat(double rate_per_user, double duration_seconds) {
        chat_step step;
        step.rate_per_user = rate_per_user;
        run_measurement& result = step.measurement;
        latencies_ = &result.latencies_us;
        delivered_ = 0;
        acknowledged_ = 0;
        std::vector<std::uint8_t> payload(std::max<std::size_t>(options_.payload_bytes, 16), 'x');
        const auto users = static_cast<std::uint64_t>(layout_.users);
        const auto period_ns = static_cast<std::uint64_t>(1e9 / rate_per_user);
        const auto total_sends = static_cast<std::uint64_t>(duration_seconds * rate_per_user *
                                                            static_cast<double>(users));
        result.latencies_us.reserve(total_sends * (layout_.room_size - 1));
        // Only users that logged in send and receive: a failed login is reported, not chatted.
        std::vector<std::size_t> online_members(layout_.rooms(), 0);
        for (std::size_t user = 0; user < layout_.users; ++user) {
            online_members[layout_.room_of(user)] += is_online(user) ? 1 : 0;
        }
        std::uint64_t expected = 0;
        const std::vector<bool> was_online = online_users();
        const double cpu_before = own_cpu_seconds();
        result.before = sample_broker(options_.broker_pid);
        const std::uint64_t start_ns = now_ns();
        phase_start_ns_ = start_ns;
        std::uint64_t sends = 0;
        while (sends < total_sends) {
            const std::uint64_t now = now_ns();
            // Send number s is due at start + s * period / users: user s mod users, evenly spread.
            while (sends < total_sends && start_ns + sends * period_ns / users <= now) {
                const std::size_t user = sends % users;
                ++sends;
                if (!is_online(user)) {
                    continue;
                }
                write_payload(payload, {now, static_cast<std::uint32_t>(user), sequences_[user]++});
                packet_ids_[user] = static_cast<std::uint16_t>(packet_ids_[user] % 65535 + 1);
                append_publish(loop_.at(user).output, topics_[user], 1, packet_ids_[user], payload,
                               loop_.protocol_level());
                loop_.mark_dirty(user);
                expected += online_members[layout_.room_of(user)] - 1;
                ++result.sent;
            }
            loop_.flush();
            if (sends == total_sends) {
                break;
            }
            const std::uint64_t next_due = start_ns + sends * period_ns / users;
            const std::uint64_t after = now_ns();
            // Sleep until the next send, rounded up to whole milliseconds (epoll's resolution).
            loop_.poll(next_due > after ? static_cast<int>((next_due - after + 999999) / 1000000)
                                        : 0);
        }
        const std::uint64_t drain_end_ns =
            now_ns() + static_cast<std::uint64_t>(options_.timeout_seconds * 1e9);
        last_progress_ns_ = now_ns();
        while ((delivered_ < expected || acknowledged_ < result.sent) && now_ns() < drain_end_ns &&
               now_ns() - last_progress_ns_ < no_progress_ns()) {
            loop_.poll(10);
        }
        result.after = sample_broker(options_.broker_pid);
        result.loadgen_cpu_seconds = own_cpu_seconds() - cpu_before;
        for (std::size_t user = 0; user < layout_.users; ++user) {
            step.disconnected += was_online[user] && !is_online(user) ? 1 : 0;
        }
        result.seconds = duration_seconds;
        result.delivered = delivered_;
        result.lost = expected > delivered_ ? expected - delivered_ : 0;
        step.unacknowledged = result.sent > acknowledged_ ? result.sent - acknowledged_ : 0;
        latencies_ = nullptr;
        return step;
    }

    /// The reconnect storm (see the top of this file), resuming TLS sessions or not.
    storm_outcome storm(bool is_resuming) {
        storm_outcome outcome;
        storm_ = &outcome;
        storm_seen_.clear();
        acknowledged_ = 0;
        phase_start_ns_ = now_ns();
        drop_ns_ = ~std::uint64_t{0};
        const std::uint64_t deadline_ns =
            now_ns() + static_cast<std::uint64_t>(options_.timeout_seconds * 1e9);
        storm_members_.assign(layout_.rooms(), 0);
        for (std::size_t user = 0; user < layout_.users; ++user) {
            storm_members_[layout_.room_of(user)] += is_online(user) ? 1 : 0;
        }
        std::uint64_t sent = 0;
        for (std::size_t user = 0; user < layout_.users && options_.is_storm_messaging; ++user) {
            if (is_online(user)) {
                send_storm_message(user, outcome);
                ++sent;
            }
        }
        loop_.flush();
        // The messages are the broker's once acknowledged; their deliveries may still be on
        // their way when the connections drop.
        last_progress_ns_ = now_ns();
        while (acknowledged_ < sent && now_ns() < deadline_ns &&
               now_ns() - last_progress_ns_ < no_progress_ns()) {
            loop_.poll(10);
        }
        const std::vector<bool> was_online = online_users();
        const double cpu_before = own_cpu_seconds();
        if (!options_.is_storm_messaging) {
            // Whatever the chat step left to write (cursors, the search batch) is out of the way.
            wait_until_disk_quiet(deadline_ns);
        }
        broker_sample before = sample_broker(options_.broker_pid);
        drop_ns_ = now_ns();
        for (std::size_t user = 0; user < layout_.users; ++user) {
            outcome.dropped += was_online[user] ? 1 : 0;
            loop_.drop(user);
        }
        if (!options_.is_storm_messaging) {
            // The drop's own writes, apart from the logins'.
            const broker_sample dropped = wait_until_disk_quiet(deadline_ns);
            outcome.logout_written_bytes = dropped.written_bytes - before.written_bytes;
            before = dropped;
        }
        loop_.set_resuming(is_resuming);
        const std::uint64_t before_ns = now_ns();
        const std::size_t window = std::max<std::uint64_t>(options_.window, 1);
        // Users wait in `waiting` until one of the `window` places in `reconnecting` is free; a
        // user whose CONNECT was refused (a broker answering busy) or whose connection failed
        // goes to the back of the queue and tries again, as a real client would.
        std::deque<std::size_t> waiting;
        for (std::size_t user = 0; user < layout_.users; ++user) {
            if (was_online[user]) {
                waiting.push_back(user);
            }
        }
        const std::size_t returning = waiting.size();
        std::vector<std::size_t> reconnecting;
        std::size_t back = 0;
        std::uint64_t back_ns = 0;
        while (now_ns() < deadline_ns) {
            std::erase_if(reconnecting, [&](std::size_t user) {
                if (loop_.at(user).is_connected && !loop_.at(user).is_closed) {
                    ++back;
                    return true;
                }
                if (loop_.at(user).is_closed) {
                    ++outcome.retries;
                    waiting.push_back(user);
                    return true;
                }
                return false;
            });
            while (!waiting.empty() && reconnecting.size() < window) {
                const std::size_t user = waiting.front();
                waiting.pop_front();
                loop_.set_connect_settings(user_settings(user));
                loop_.reopen(user, loop_.settings().user_name);
                reconnecting.push_back(user);
            }
            if (back == returning) {
                back_ns = now_ns();
                break;
            }
            loop_.poll(5);
        }
        const std::uint64_t reconnect_ns = options_.is_storm_messaging ? drop_ns_ : before_ns;
        outcome.seconds =
            static_cast<double>((back_ns != 0 ? back_ns : now_ns()) - reconnect_ns) / 1e9;
        const broker_sample after = options_.is_storm_messaging
                                        ? sample_broker(options_.broker_pid)
                                        : wait_until_disk_quiet(deadline_ns);
        outcome.broker_cpu_seconds = after.cpu_seconds - before.cpu_seconds;
        outcome.written_bytes = after.written_bytes - before.written_bytes;
        for (std::size_t user = 0; user < layout_.users; ++user) {
            outcome.back += is_online(user) ? 1 : 0;
            outcome.resumed += is_online(user) && loop_.at(user).was_resumed ? 1 : 0;
        }
        last_progress_ns_ = now_ns();
        while ((outcome.delivered < outcome.expected || acknowledged_ < 2 * sent) &&
               now_ns() < deadline_ns && now_ns() - last_progress_ns_ < no_progress_ns()) {
            loop_.poll(10);
        }
        outcome.loadgen_cpu_seconds = own_cpu_seconds() - cpu_before;
        storm_ = nullptr;
        return outcome;
    }

    /// Serves the connections (acknowledges what arrives) for `seconds`.
    void serve_for(double seconds) {
        const std::uint64_t end_ns = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
        while (now_ns() < end_ns) {
            loop_.poll(50);
        }
    }

    /// Sends DISCONNECT from every user (sessions stay) and waits up to 5 s for the closes.
    void log_out() {
        for (std::size_t user = 0; user < loop_.size(); ++user) {
            append_disconnect(loop_.at(user).output);
            loop_.mark_dirty(user);
        }
        loop_.flush();
        const std::uint64_t deadline_ns = now_ns() + 5000000000ull;
        while (loop_.closed_count() < loop_.size() && now_ns() < deadline_ns) {
            loop_.poll(10);
        }
    }

    /// Deliveries from before the current step (queued in a persistent session, or late).
    std::uint64_t stale_deliveries() const { return stale_; }

private:
    /// CONNECT settings of user `user`: a persistent session, user name uK, password PREFIX then K.
    connect_settings user_settings(std::size_t user) const {
        connect_settings settings = client_settings(options_);
        settings.is_clean = false;
        settings.session_expiry_seconds = options_.session_expiry_seconds;
        const std::string number = std::to_string(user);
        settings.user_name.assign(1, 'u').append(number);
        settings.password.assign(options_.password.empty() ? "pw-" : options_.password)
            .append(number);
        return settings;
    }

    std::vector<bool> online_users() {
        std::vector<bool> online(layout_.users);
        for (std::size_t user = 0; user < layout_.users; ++user) {
            online[user] = is_online(user);
        }
        return online;
    }

    /// One QoS 1 chat message from `user` during a storm, expected by the other members of its
    /// room that were online before the drop.
    void send_storm_message(std::size_t user, storm_outcome& outcome) {
        std::vector<std::uint8_t> payload(std::max<std::size_t>(options_.payload_bytes, 16), 'x');
        write_payload(payload, {now_ns(), static_cast<std::uint32_t>(user), sequences_[user]++});
        packet_ids_[user] = static_cast<std::uint16_t>(packet_ids_[user] % 65535 + 1);
        append_publish(loop_.at(user).output, topics_[user], 1, packet_ids_[user], payload,
                       loop_.protocol_level());
        loop_.mark_dirty(user);
        const std::uint64_t receivers = storm_members_[layout_.room_of(user)] - 1;
        outcome.expected += receivers;
        outcome.expected_before += now_ns() < drop_ns_ ? receivers : 0;
    }

    /// A storm delivery: counted once per receiver and message (QoS 1 may repeat it after the
    /// reconnect); the latency of the first delivery of a message sent after the drop.
    void note_storm_delivery(std::size_t index, const payload_stamp& stamp) {
        if (stamp.sent_ns < phase_start_ns_) {
            ++stale_;
            return;
        }
        if (stamp.sender == index || stamp.sender >= layout_.users) {
            return;
        }
        const std::uint64_t pair = static_cast<std::uint64_t>(index) * layout_.users + stamp.sender;
        if (!storm_seen_.insert((pair << 32) | stamp.sequence).second) {
            return;
        }
        last_progress_ns_ = now_ns();
        ++storm_->delivered;
        if (stamp.sent_ns < drop_ns_) {
            ++storm_->delivered_before;
        } else {
            storm_->latencies_us.push_back(static_cast<double>(last_progress_ns_ - stamp.sent_ns) /
                                           1e3);
        }
    }

    void handle(std::size_t index, const packet_view& packet) {
        if (packet.type == packet_type::connack && storm_ != nullptr && now_ns() >= drop_ns_ &&
            loop_.at(index).is_connected && options_.is_storm_messaging) {
            // Back after the drop: the user's first message goes at once.
            send_storm_message(index, *storm_);
            return;
        }
        if (packet.type == packet_type::suback) {
            const bool is_refused = !packet.payload.empty() && packet.payload[0] >= 0x80;
            refused_subscriptions_ += is_refused ? 1 : 0;
            return;
        }
        if (packet.type == packet_type::puback) {
            ++acknowledged_;
            last_progress_ns_ = now_ns();
            return;
        }
        if (packet.type != packet_type::publish) {
            return;
        }
        if (packet.qos() > 0) {
            append_puback(loop_.at(index).output, packet.packet_id);
            loop_.mark_dirty(index);
        }
        if (!packet.topic.starts_with("chat/room/")) {
            return; // presence and other chat-layer traffic
        }
        const payload_stamp stamp = read_payload(packet.payload);
        if (storm_ != nullptr) {
            note_storm_delivery(index, stamp);
            return;
        }
        if (latencies_ == nullptr || stamp.sent_ns < phase_start_ns_) {
            ++stale_;
            return;
        }
        if (stamp.sender == index) {
            return; // an echo of the user's own message (3.1.1 has no No Local)
        }
        last_progress_ns_ = now_ns();
        latencies_->push_back(static_cast<double>(last_progress_ns_ - stamp.sent_ns) / 1e3);
        ++delivered_;
    }

    /// How long a step waits without progress before it ends (--drain-idle).
    std::uint64_t no_progress_ns() const {
        return static_cast<std::uint64_t>(options_.drain_idle_seconds * 1e9);
    }

    bool is_online(std::size_t user) {
        return user < loop_.size() && loop_.at(user).is_connected && !loop_.at(user).is_closed;
    }

    /// Serves the connections until the broker has written nothing to storage for
    /// options.storm_settle_seconds (or `deadline_ns`); returns the last reading.
    broker_sample wait_until_disk_quiet(std::uint64_t deadline_ns) {
        const auto settle_ns = static_cast<std::uint64_t>(options_.storm_settle_seconds * 1e9);
        broker_sample last = sample_broker(options_.broker_pid);
        std::uint64_t quiet_since_ns = now_ns();
        while (now_ns() < deadline_ns && now_ns() - quiet_since_ns < settle_ns) {
            loop_.poll(50);
            const broker_sample next = sample_broker(options_.broker_pid);
            if (next.written_bytes != last.written_bytes) {
                quiet_since_ns = now_ns();
            }
            last = next;
        }
        return last;
    }

    void wait_until_quiet() {
        const std::uint64_t deadline_ns =
            now_ns() + static_cast<std::uint64_t>(options_.timeout_seconds * 1e9);
        std::uint64_t quiet_since_ns = now_ns();
        while (now_ns() < deadline_ns && now_ns() - quiet_since_ns < 500000000ull) {
            if (loop_.poll(50) > 0) {
                quiet_since_ns = now_ns();
            }
        }
    }

    const scenario_options& options_;
    chat_layout layout_;
    client_loop loop_;
    std::vector<std::string> topics_;
    std::vector<std::uint16_t> packet_ids_;
    std::vector<std::uint32_t> sequences_;
    std::vector<double>* latencies_ = nullptr;
    std::uint64_t phase_start_ns_ = 0;
    std::uint64_t last_progress_ns_ = 0;
    std::uint64_t delivered_ = 0;
    std::uint64_t acknowledged_ = 0;
    std::uint64_t stale_ = 0;
    std::size_t refused_subscriptions_ = 0;
    storm_outcome* storm_ = nullptr;
    std::uint64_t drop_ns_ = 0;
    std::vector<std::size_t> storm_members_;
    std::unordered_set<std::uint64_t> storm_seen_;
};

} // namespace perch::loadgen
