// One client's network connection and its session: the read/flush/timer loop and closing. The
// other flows of a connection have their own files: one PUBLISH in and out (routing, durable
// routing, delivery, acknowledgement) in connection_publish.cpp, the session's life (CONNECT,
// SUBSCRIBE, UNSUBSCRIBE, takeover, the stored session record, restore, session end) in
// connection_session.cpp, and the chat layer's part in connection_chat.cpp.
//
// Theory of operation
// - Reading: wait until the socket is readable, then read everything it has (up to a per-turn
//   cap, for fairness) feeding each chunk to session.handle_bytes and draining poll_action. The
//   socket is edge-triggered underneath, so a wait is only started after a read returned
//   would_block; a turn cut short by the cap continues with a posted turn instead.
// - Output: send_packet actions are encoded into the output_queue; the connection marks itself
//   dirty and the worker flushes every dirty connection once at the end of the turn: one gather
//   write per connection per turn. While a write is in flight new output collects behind it.
// - Timers: one steady_timer, re-armed only when the session's next deadline moves earlier (keep
//   alive deadlines mostly move later, so most turns touch no timer).
// - Closing: after close_connection the pending output (CONNACK, DISCONNECT) is written, then the
//   socket is closed; a peer that does not read gets 5 seconds. When the socket is gone and the
//   session is persistent, this object stays on its worker, offline, until the session resumes
//   on another connection (hand_over) or expires (session_expired).
#include "gateway/broker/connection.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "gateway/broker/worker.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

namespace {

std::string_view close_cause_text(close_cause cause) {
    switch (cause) {
    case close_cause::lost: return "connection lost or closed without DISCONNECT";
    case close_cause::client_disconnect: return "client sent DISCONNECT";
    case close_cause::server_close: return "closed by the server";
    case close_cause::stalled: return "stopped reading";
    case close_cause::shutdown: return "server shutting down";
    }
    return "unknown";
}

/// Bytes read in one turn before other connections of the worker get their turn (DESIGN.md
/// "Overload"): one read buffer, so that one turn's work (decoding, routing, storing what it
/// carried) stays small beside a PINGREQ waiting on another socket.
constexpr std::size_t max_read_bytes_per_turn = 64 * 1024;
/// How long a closing connection may take to accept its last bytes.
constexpr std::chrono::seconds close_linger{5};
/// How long a connection the server closed (after a DISCONNECT or a refused CONNACK) reads and
/// discards what the client still sends, so that the client reads the reason code instead of
/// a connection reset.
constexpr std::chrono::seconds drain_linger{2};

template <typename... Handlers> struct overloaded : Handlers... { using Handlers::operator()...; };
template <typename... Handlers> overloaded(Handlers...) -> overloaded<Handlers...>;

/// `content` as a client may publish it: RETAIN cleared where nothing may be retained (a copy
/// then; the payload stays shared).
mqtt::message_ptr retainable(mqtt::message_ptr content) {
    if (!content->is_retained || may_client_retain(content->topic_name)) {
        return content;
    }
    auto plain = std::make_shared<mqtt::message>(*content);
    plain->is_retained = false;
    return plain;
}

} // namespace

mqtt::time_point connection::clock_now() {
    return std::chrono::steady_clock::now();
}

connection::connection(broker_tables& tables, worker& home, std::unique_ptr<transport> stream,
                       std::shared_ptr<const connection_settings> settings)
    : tables_(tables), worker_(home), transport_(std::move(stream)), settings_(std::move(settings)),
      session_(mqtt::session::sharing_limits(
          std::shared_ptr<const mqtt::session_limits>(settings_, &settings_->limits),
          home.next_subscriber_id(), clock_now())),
      output_(home.output_pool()) {
    session_.set_publish_sink(this);
}

connection::connection(broker_tables& tables, worker& home, boost::asio::ip::tcp::socket socket,
                       std::shared_ptr<const connection_settings> settings)
    : connection(tables, home, std::make_unique<tcp_transport>(home.poller(), std::move(socket)),
                 std::move(settings)) {}

void connection::refuse_for_connection_rate() {
    is_connection_rate_refused_ = true;
    has_connection_slot_ = false;
    has_rate_refused_slot_ = true;
}

connection::~connection() {
    if (has_connection_slot_) {
        tables_.release_connection_slot();
    }
    if (has_rate_refused_slot_) {
        tables_.release_rate_refused_slot();
    }
    if (session_persistence* persistence = tables_.persistence()) {
        // A CONNECT that was never accepted leaves its held Will behind.
        persistence->take_connect_will(id());
    }
}

void connection::start() {
    worker_.add_connection(shared_from_this());
    log_event(log_level::debug, "new connection from {}", remote_address());
    arm_timer();
    // Bytes may have arrived before the socket joined the reactor: read first, then wait.
    boost::asio::post(worker_.context(), [self = shared_from_this()] {
        self->read_turn(boost::system::error_code());
    });
}

void connection::wait_readable() {
    if (!transport_->is_open() || is_closing_ || is_reading_ || is_read_paused_ ||
        is_awaiting_handover_ || session_.phase() == mqtt::session_phase::authorizing) {
        // While a CONNECT is being authorized (a password check, a takeover) nothing more is
        // read: a client that has not logged in cannot make the server buffer its input.
        return;
    }
    if (worker_.is_output_congested(settings_->backlog_pause_bytes)) {
        // Back-pressure: the broker cannot write as fast as publishers send.
        is_read_paused_ = true;
        worker_.pause_reading(shared_from_this(), settings_->backlog_pause_bytes);
        return;
    }
    is_reading_ = true;
    transport_->async_wait_readable(
        [self = shared_from_this()](const boost::system::error_code& error) {
            self->is_reading_ = false;
            self->read_turn(error);
        });
}

void connection::resume_reading() {
    if (!is_read_paused_) {
        return;
    }
    is_read_paused_ = false;
    read_turn(boost::system::error_code());
}

void connection::read_turn(const boost::system::error_code& error) {
    if (error) {
        if (error != boost::asio::error::operation_aborted) {
            on_network_lost();
        }
        return;
    }
    if (!transport_->is_open() || is_closing_) {
        if (is_draining_) {
            drain_input();
        }
        return;
    }
    const mqtt::time_point now = clock_now();
    std::size_t turn_bytes = 0;
    bool is_lost = false;
    bool has_more = false;
    while (true) {
        boost::system::error_code read_error;
        // The worker's buffer: the session takes what it needs before anything else reads.
        const std::span<std::uint8_t> buffer = worker_.read_buffer();
        const std::size_t count = transport_->read_some(buffer, read_error);
        if (read_error == transport::read_yield) {
            // The transport did a turn's worth of work that gave no bytes (empty TLS records).
            has_more = true;
            break;
        }
        if (read_error == boost::asio::error::would_block ||
            read_error == boost::asio::error::try_again) {
            break;
        }
        if (read_error) {
            if (read_error != boost::asio::error::eof) {
                log_event(log_level::debug, "read from {} failed: {}", remote_address(),
                          read_error.message());
            }
            is_lost = true;
            break;
        }
        worker_.counters().bytes_received.add(count);
        session_.handle_bytes(mqtt::byte_view(buffer.data(), count), now);
        process_actions(now);
        turn_bytes += count;
        if (is_closing_ || is_awaiting_handover_ ||
            session_.phase() == mqtt::session_phase::authorizing) {
            break;
        }
        if (turn_bytes >= max_read_bytes_per_turn) {
            has_more = true;
            break;
        }
    }
    sync_ledger(now);
    worker_.flush();
    if (is_lost) {
        on_network_lost();
        return;
    }
    arm_timer();
    if (has_more) {
        if (worker_.is_output_congested(settings_->backlog_pause_bytes)) {
            // A reader with more to read obeys back-pressure as a waiting one does (resumed with
            // read_turn, which takes what the transport already holds).
            is_read_paused_ = true;
            worker_.pause_reading(shared_from_this(), settings_->backlog_pause_bytes);
            return;
        }
        // Posted behind the handlers already queued on the worker (other sockets' readiness,
        // store completions): the others get their turn before this one reads again.
        boost::asio::post(worker_.context(), [self = shared_from_this()] {
            self->read_turn(boost::system::error_code());
        });
        return;
    }
    wait_readable();
}

void connection::process_actions(mqtt::time_point now) {
    while (auto action = session_.poll_action()) {
        std::visit(overloaded{
                       [&](mqtt::send_packet& out) { send(out.content); },
                       [&](mqtt::connect_requested& request) {
                           on_connect_requested(request.request, now);
                       },
                       [&](mqtt::route_publish& inbound) {
                           count_publish(inbound.content->qos_level,
                                         inbound.content->payload.size(), true);
                           if (!admit_publish(inbound, now)) {
                               return;
                           }
                           if (!policy_.may_publish(inbound.content->topic_name, client_id())) {
                               refuse_publish(inbound, now);
                               return;
                           }
                           inbound.content = retainable(std::move(inbound.content));
                           if (handle_chat_publish(inbound, now)) {
                               return;
                           }
                           route_inbound(inbound, now);
                       },
                       [&](mqtt::subscribe_requested& request) {
                           on_subscribe_requested(request.request, now);
                       },
                       [&](mqtt::unsubscribe_requested& request) {
                           on_unsubscribe_requested(request.request, now);
                       },
                       [&](mqtt::publish_will& will) {
                           if (!policy_.may_publish(will.content->topic_name, client_id())) {
                               // Allowed at CONNECT, but the rules changed since (a deleted
                               // user, a room left): a will obeys them when it is published.
                               worker_.counters().access_refusals.add();
                               log_event(log_level::info,
                                         "dropping the will of {} on '{}': not authorized",
                                         client_id(), will.content->topic_name);
                               return;
                           }
                           log_event(log_level::debug, "publishing the will of {} on '{}'",
                                     client_id(), will.content->topic_name);
                           route_will(retainable(std::move(will.content)), now);
                       },
                       [&](mqtt::close_connection& close) {
                           close_cause_ = mqtt::is_failure(close.reason)
                                              ? close_cause::server_close
                                              : close_cause::client_disconnect;
                           if (mqtt::is_failure(close.reason)) {
                               // The server ends this connection: the client gets to read why.
                               is_drain_wanted_ = true;
                               if (close.reason != mqtt::reason_code::session_taken_over &&
                                   close.reason != mqtt::reason_code::message_rate_too_high &&
                                   close.reason != mqtt::reason_code::connection_rate_exceeded) {
                                   worker_.counters().protocol_violations.add();
                               }
                               log_event(log_level::info, "closing {} ({}): {} (0x{:02x}) {}",
                                         client_id(), remote_address(),
                                         mqtt::to_string(close.reason),
                                         static_cast<unsigned>(close.reason), close.rule);
                           }
                           begin_close();
                       },
                       [&](mqtt::session_expired&) { end_expired_session(); },
                   },
                   *action);
    }
    if (ledger_) {
        // The stored record follows the end of the connection and of the will.
        sync_session_record(*ledger_, session_, *tables_.persistence(), unix_now_ms());
    }
}

void connection::send(mqtt::packet& content) {
    if (!transport_->is_open()) {
        return;
    }
    if (auto* outbound = std::get_if<mqtt::publish>(&content)) {
        const std::uint64_t backlog = output_.pending_bytes() + output_.writing_bytes();
        if (backlog > settings_->max_output_bytes) {
            if (outbound->qos_level == mqtt::qos::at_most_once) {
                // DESIGN.md "Overload": only QoS 0 may be dropped, and every drop is counted.
                worker_.counters().publish_dropped.add();
                return;
            }
            if (!session_.is_persistent() && session_.is_connected()) {
                worker_.counters().quota_disconnects.add();
                log_event(log_level::notice,
                          "disconnecting {}: {} bytes of output waiting (quota exceeded)",
                          client_id(), backlog);
                session_.shutdown(mqtt::reason_code::quota_exceeded, clock_now());
                return;
            }
            // DESIGN.md "Overload": this one is in flight already; the session holds later QoS
            // 1/2 deliveries in its queue, and past it they stay in the store, until the output
            // has room again (on_written).
            session_.set_output_blocked(true, clock_now());
        }
        // Only now is it certain to be written: a dropped PUBLISH must not leave behind an alias
        // mapping that the client never received.
        session_.choose_topic_alias(*outbound);
        output_.append_publish(*outbound, session_.version());
        count_publish(outbound->qos_level, outbound->payload.size(), false);
    } else {
        output_.append_packet(content, session_.version());
    }
    note_output();
}

bool connection::take_publish(mqtt::publish& out) {
    if (!transport_->is_open() ||
        output_.pending_bytes() + output_.writing_bytes() > settings_->max_output_bytes) {
        return false;
    }
    session_.choose_topic_alias(out);
    output_.append_publish(out, session_.version());
    count_publish(out.qos_level, out.payload.size(), false);
    note_output();
    return true;
}

void connection::count_publish(mqtt::qos level, std::size_t payload_bytes, bool is_inbound) {
    worker_counters& counts = worker_.counters();
    const auto qos = static_cast<unsigned>(level);
    if (is_inbound) {
        counts.publish_received.add();
        by_qos(qos, counts.publish_received_qos0, counts.publish_received_qos1,
               counts.publish_received_qos2)
            .add();
        by_qos(qos, counts.payload_bytes_received_qos0, counts.payload_bytes_received_qos1,
               counts.payload_bytes_received_qos2)
            .add(payload_bytes);
    } else {
        counts.publish_sent.add();
        by_qos(qos, counts.publish_sent_qos0, counts.publish_sent_qos1, counts.publish_sent_qos2)
            .add();
        by_qos(qos, counts.payload_bytes_sent_qos0, counts.payload_bytes_sent_qos1,
               counts.payload_bytes_sent_qos2)
            .add(payload_bytes);
    }
}

void connection::note_output() {
    worker_.counters().packets_sent.add();
    sync_backlog();
    if (!is_dirty_) {
        is_dirty_ = true;
        worker_.mark_dirty(shared_from_this());
    }
}

store::store_completion
connection::post_back(std::function<void(const store::store_status&)> work) {
    // Completions of the SQLite store run on its writer thread: hand the work, and the outcome it
    // must look at, to this worker.
    return
        [context = &worker_.context(), work = std::move(work)](const store::store_status& status) {
            boost::asio::post(*context, [work, status] { work(status); });
        };
}

void connection::shut_down_for_exit() {
    is_exiting_ = true;
    close_cause_ = close_cause::shutdown;
    // Written before the chat store's last flush (server::stop, then chat_service::stop).
    save_chat_cursors(unix_now_ms());
    if (transport_->is_open() && session_.is_connected()) {
        const mqtt::time_point now = clock_now();
        session_.shutdown(mqtt::reason_code::server_shutting_down, now);
        process_actions(now);
        flush_output();
    }
    cancel_timer();
    if (!output_.is_writing()) {
        close_socket();
        end_session_if_closed();
    }
}

void connection::begin_close() {
    if (is_closing_) {
        return;
    }
    is_closing_ = true;
    if (!output_.has_pending() && !output_.is_writing()) {
        finish_close();
        return;
    }
    close_deadline_ = clock_now() + close_linger;
    arm_timer();
}

void connection::finish_close() {
    if (!is_drain_wanted_ || is_exiting_ || is_draining_ || !transport_->is_open()) {
        close_socket();
        end_session_if_closed();
        return;
    }
    // Closing a socket with unread input resets the connection, and the client may lose the
    // DISCONNECT (or refused CONNACK) still in its receive buffer: end the sending side, then
    // discard input until the client closes too, or drain_linger passes.
    is_draining_ = true;
    transport_->shutdown_send();
    close_deadline_ = clock_now() + drain_linger;
    arm_timer();
    drain_input();
}

void connection::drain_input() {
    if (!transport_->is_open() || is_reading_) {
        return;
    }
    std::size_t turn_bytes = 0;
    while (turn_bytes < max_read_bytes_per_turn) {
        boost::system::error_code error;
        const std::size_t count = transport_->read_some(worker_.read_buffer(), error);
        if (error == boost::asio::error::would_block || error == boost::asio::error::try_again) {
            is_reading_ = true;
            transport_->async_wait_readable(
                [self = shared_from_this()](const boost::system::error_code& waited) {
                    self->is_reading_ = false;
                    if (!waited) {
                        self->drain_input();
                    } else if (waited != boost::asio::error::operation_aborted) {
                        self->close_socket();
                        self->end_session_if_closed();
                    }
                });
            return;
        }
        if (error == transport::read_yield) {
            break;
        }
        if (error) {
            // End of stream (the client closed after reading) or a failure: done.
            close_socket();
            end_session_if_closed();
            return;
        }
        worker_.counters().bytes_received.add(count);
        turn_bytes += count;
    }
    // Fairness, as for a read turn: the rest waits behind the worker's other connections.
    boost::asio::post(worker_.context(), [self = shared_from_this()] { self->drain_input(); });
}

void connection::close_socket() {
    if (!transport_->is_open()) {
        return;
    }
    transport_->close();
    output_.clear();
    sync_backlog();
    if (has_connection_slot_) {
        has_connection_slot_ = false;
        tables_.release_connection_slot();
    }
    if (has_rate_refused_slot_) {
        has_rate_refused_slot_ = false;
        tables_.release_rate_refused_slot();
    }
    if (is_counted_connected_) {
        is_counted_connected_ = false;
        worker_.counters().connected_clients.subtract();
        log_event(log_level::info, "client {} ({}) disconnected: {}", client_id(), remote_address(),
                  close_cause_text(close_cause_));
        end_chat_device();
    } else {
        log_event(log_level::debug, "connection from {} closed before it logged in: {}",
                  remote_address(), close_cause_text(close_cause_));
    }
}

void connection::on_network_lost() {
    const mqtt::time_point now = clock_now();
    close_socket();
    if (!is_exiting_) {
        session_.handle_connection_lost(now);
        process_actions(now);
        worker_.flush();
    }
    end_session_if_closed();
    arm_timer();
}

void connection::flush_output() {
    is_dirty_ = false;
    if (!transport_->is_open() || output_.is_writing() || !output_.has_pending() ||
        (ledger_ && ledger_->connack_held_for == id())) {
        return;
    }
    const auto buffers = output_.begin_write();
    transport_->async_write(buffers, [self = shared_from_this()](
                                         const boost::system::error_code& error,
                                         std::size_t bytes) { self->on_written(error, bytes); });
}

void connection::on_written(const boost::system::error_code& error, std::size_t bytes) {
    worker_.counters().bytes_sent.add(bytes);
    output_.end_write();
    sync_backlog();
    if (error) {
        if (error != boost::asio::error::operation_aborted) {
            log_event(log_level::debug, "write to {} failed: {}", remote_address(),
                      error.message());
            on_network_lost();
        }
        return;
    }
    if (session_.is_output_blocked() &&
        output_.pending_bytes() + output_.writing_bytes() <= settings_->max_output_bytes) {
        // The output has room again: the held deliveries go, oldest first, then those read back
        // from the store.
        const mqtt::time_point now = clock_now();
        session_.set_output_blocked(false, now);
        process_actions(now);
        sync_ledger(now);
    }
    if (output_.has_pending()) {
        flush_output();
        return;
    }
    if (is_exiting_) {
        close_socket();
        end_session_if_closed();
    } else if (is_closing_) {
        finish_close();
    }
}

void connection::sync_backlog() {
    const std::uint64_t now_queued = output_.pending_bytes() + output_.writing_bytes();
    if (now_queued > accounted_output_bytes_) {
        worker_.counters().queued_output_bytes.add(now_queued - accounted_output_bytes_);
    } else {
        worker_.counters().queued_output_bytes.subtract(accounted_output_bytes_ - now_queued);
    }
    accounted_output_bytes_ = now_queued;
}

void connection::arm_timer() {
    if (is_exiting_) {
        return;
    }
    std::optional<mqtt::time_point> deadline = session_.poll_deadline();
    if (close_deadline_ && (!deadline || *close_deadline_ < *deadline)) {
        deadline = *close_deadline_;
    }
    if (!deadline) {
        // Nothing to wait for (a client without keep-alive, once connected): the queued entry
        // goes stale, so that the worker's queue holds nothing for an idle connection.
        cancel_timer();
        return;
    }
    if (armed_deadline_ && *armed_deadline_ <= *deadline) {
        // The armed timer fires first; it re-arms for the later deadline then.
        return;
    }
    if (!armed_deadline_) {
        worker_.note_deadline_waiter(true);
    }
    armed_deadline_ = *deadline;
    worker_.schedule_deadline(*deadline, id(), ++timer_generation_);
}

void connection::cancel_timer() {
    ++timer_generation_;
    if (armed_deadline_) {
        armed_deadline_.reset();
        worker_.note_deadline_waiter(false);
    }
}

void connection::on_deadline(std::uint64_t generation) {
    if (!is_deadline_current(generation) || is_exiting_) {
        return;
    }
    armed_deadline_.reset();
    worker_.note_deadline_waiter(false);
    const mqtt::time_point now = clock_now();
    if (close_deadline_ && now >= *close_deadline_) {
        close_deadline_.reset();
        log_event(log_level::debug, "closing {}: peer stopped reading", remote_address());
        close_cause_ = close_cause::stalled;
        close_socket();
        end_session_if_closed();
        if (is_session_ended_) {
            return;
        }
    }
    session_.handle_deadline(now);
    process_actions(now);
    sync_ledger(now);
    worker_.flush();
    end_session_if_closed();
    if (!is_session_ended_) {
        arm_timer();
    }
}

} // namespace perch::gateway
