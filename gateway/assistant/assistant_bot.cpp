// The assistant bot: triggers, limits, context, the model call and the reply.
#include "gateway/assistant/assistant_bot.hpp"

#include <charconv>
#include <optional>
#include <stdexcept>
#include <utility>

#include <boost/asio/post.hpp>

#include "gateway/assistant/completion_client.hpp"
#include "gateway/broker/server.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/common/log.hpp"

namespace perch::gateway::assistant {

namespace {

/// The value of user property `name`, if set.
std::optional<std::string_view> find_user_property(const mqtt::properties& props,
                                                   std::string_view name) {
    for (const mqtt::user_property& property : props.user_properties) {
        if (property.name == name) {
            return property.value;
        }
    }
    return std::nullopt;
}

std::optional<std::uint64_t> parse_message_id(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value == 0) {
        return std::nullopt;
    }
    return value;
}

endpoint_url parse_url_or_throw(const std::string& text) {
    std::string problem;
    auto url = parse_endpoint_url(text, problem);
    if (!url) {
        throw std::runtime_error("assistant_endpoint: " + problem);
    }
    return *url;
}

} // namespace

/// One request from the moment it was accepted until its reply is published.
struct assistant_bot::pending_call {
    bot_trigger trigger;
    answered_message answered;
    std::chrono::steady_clock::time_point last_typing{};
    bool has_typed = false;
};

assistant_bot::assistant_bot(server& owner, worker& home, const assistant_config& config,
                             std::string api_key)
    : server_(owner), worker_(home), config_(config), url_(parse_url_or_throw(config.endpoint)),
      api_key_(std::move(api_key)),
      limiter_(rate_limit{config.user_rate_per_minute, config.user_rate_burst},
               rate_limit{config.global_rate_per_minute, config.global_rate_burst}) {
    if (url_.is_tls) {
        client::tls_client_options options;
        options.ca_file = config_.cafile;
        tls_ = std::make_unique<client::tls_client_context>(options);
    }
}

assistant_bot::~assistant_bot() = default;

void assistant_bot::start() {
    client_ = std::make_shared<client::in_process_client>(
        server_.in_process_endpoint(worker_), config_.user,
        [weak = weak_from_this()](const mqtt::publish& message) {
            if (auto self = weak.lock()) {
                self->handle_message(message);
            }
        });
    client_->start();
    log_notice("assistant {} answers through {}{}:{}{}", config_.user,
               url_.is_tls ? "https://" : "http://", url_.host, url_.port, url_.base_path);
}

void assistant_bot::stop() {
    is_stopped_ = true;
    // A call may wait for its deadline for a long time: end them, so the worker can stop.
    for (const std::weak_ptr<completion_cancel>& held : std::exchange(running_, {})) {
        if (auto running = held.lock()) {
            running->cancel();
        }
    }
    if (client_) {
        client_->stop();
    }
}

void assistant_bot::add_stats(broker_stats& stats) const {
    const worker_counters& counts = worker_.counters();
    stats.assistant_counts = {
        {"requests", counts.assistant_requests.value()},
        {"answers", counts.assistant_answers.value()},
        {"failures/unreachable", counts.assistant_unreachable.value()},
        {"failures/timeout", counts.assistant_timeouts.value()},
        {"failures/rate_limited", counts.assistant_upstream_rate_limited.value()},
        {"failures/server_error", counts.assistant_server_errors.value()},
        {"failures/bad_answer", counts.assistant_bad_answers.value()},
        {"failures/incomplete", counts.assistant_incomplete_answers.value()},
        {"failures/too_large", counts.assistant_too_large.value()},
        {"refused/rate_limited", counts.assistant_rate_limited.value()},
        {"refused/busy", counts.assistant_busy.value()},
    };
}

void assistant_bot::handle_message(const mqtt::publish& message) {
    if (is_stopped_) {
        return;
    }
    const std::string_view text = message.payload.as_string();
    std::optional<bot_trigger> trigger = classify_message(message.topic_name, text, config_.user);
    if (!trigger) {
        return;
    }
    // Only stamped messages are answered (a will message has no id to reply to).
    const auto id_text = find_user_property(message.props, "id");
    const std::optional<std::uint64_t> id = id_text ? parse_message_id(*id_text) : std::nullopt;
    if (!id) {
        return;
    }
    const rate_decision decision =
        limiter_.try_acquire(trigger->sender, std::chrono::steady_clock::now());
    if (decision != rate_decision::allowed) {
        worker_.counters().assistant_rate_limited.add();
        log_info("assistant {}: request of {} refused: rate limit", config_.user, trigger->sender);
        send_reply(*trigger, *id, refusal_reply_text(refusal_kind::rate_limited));
        return;
    }
    if (active_calls_ >= config_.max_concurrent) {
        worker_.counters().assistant_busy.add();
        log_info("assistant {}: request of {} refused: {} calls in flight", config_.user,
                 trigger->sender, active_calls_);
        send_reply(*trigger, *id, refusal_reply_text(refusal_kind::busy));
        return;
    }
    auto call = std::make_shared<pending_call>();
    call->answered = answered_message{*id, trigger->sender, std::string(text)};
    call->trigger = std::move(*trigger);
    ++active_calls_;
    read_context(std::move(call));
}

void assistant_bot::read_context(std::shared_ptr<pending_call> call) {
    const std::size_t wanted = config_.context_messages;
    if (wanted <= 1) {
        call_model(std::move(call), {});
        return;
    }
    // Up to and including the answered message: later ones are not part of its question.
    const std::string conversation = call->trigger.conversation;
    const std::uint64_t before_id = call->answered.id + 1;
    server_.chat().store().history_page(
        conversation, before_id, wanted,
        [weak = weak_from_this(), context = &worker_.context(),
         call](std::vector<store::history_record> page, const store::store_status& status) {
            boost::asio::post(*context, [weak, call, page = std::move(page),
                                         is_ok = status.is_ok()] {
                auto self = weak.lock();
                if (!self) {
                    return;
                }
                if (!is_ok) {
                    log_warning("assistant: cannot read the history of {}; answering without it",
                                call->trigger.conversation);
                }
                self->call_model(call, page);
            });
        });
}

void assistant_bot::call_model(std::shared_ptr<pending_call> call,
                               const std::vector<store::history_record>& history) {
    if (is_stopped_) {
        --active_calls_;
        return;
    }
    const std::vector<chat_turn> turns = build_context(config_.system_prompt, history, config_.user,
                                                       call->answered, config_.context_messages);
    completion_settings settings;
    settings.model = config_.model;
    if (config_.max_tokens != 0) {
        settings.max_tokens = config_.max_tokens;
    }
    completion_call_options options;
    options.url = url_;
    options.api_key = api_key_;
    options.is_streamed = config_.is_streamed;
    options.timeout = std::chrono::milliseconds(config_.timeout_ms);
    options.body = build_completion_request(settings, turns, config_.is_streamed);
    worker_.counters().assistant_requests.add();
    log_debug("assistant {}: asking the model for {} in {} ({} turns)", config_.user,
              call->trigger.sender, call->trigger.conversation, turns.size());
    completion_progress progress;
    if (config_.is_streamed) {
        progress = [weak = weak_from_this(), call](const std::string&) {
            if (auto self = weak.lock()) {
                self->on_progress(call);
            }
        };
    }
    std::erase_if(running_,
                  [](const std::weak_ptr<completion_cancel>& held) { return held.expired(); });
    running_.push_back(start_completion_call(
        worker_.context().get_executor(), tls_.get(), std::move(options), std::move(progress),
        [weak = weak_from_this(), call](completion_result result) {
            if (auto self = weak.lock()) {
                self->on_result(call, std::move(result));
            }
        }));
}

void assistant_bot::on_progress(const std::shared_ptr<pending_call>& call) {
    const auto now = std::chrono::steady_clock::now();
    if (call->has_typed &&
        now - call->last_typing < std::chrono::milliseconds(config_.typing_interval_ms)) {
        return;
    }
    call->has_typed = true;
    call->last_typing = now;
    mqtt::publish signal;
    signal.topic_name = call->trigger.signal_topic;
    signal.payload = mqtt::shared_bytes::copy_of(typing_signal_payload(config_.user));
    signal.qos_level = mqtt::qos::at_most_once;
    signal.props.payload_format_indicator = 1;
    signal.props.content_type = "application/json";
    if (client_) {
        client_->publish(std::move(signal));
    }
}

void assistant_bot::on_result(const std::shared_ptr<pending_call>& call, completion_result result) {
    --active_calls_;
    if (is_stopped_) {
        return;
    }
    if (auto* answer = std::get_if<std::string>(&result)) {
        worker_.counters().assistant_answers.add();
        send_reply(call->trigger, call->answered.id, *answer);
        return;
    }
    const completion_failure& failure = std::get<completion_failure>(result);
    count_failure(failure.kind);
    log_warning("assistant {}: no answer for {} in {}: {}", config_.user, call->trigger.sender,
                call->trigger.conversation, failure.message);
    send_reply(call->trigger, call->answered.id, failure_reply_text(failure.kind));
}

void assistant_bot::count_failure(failure_kind kind) {
    worker_counters& counts = worker_.counters();
    switch (kind) {
    case failure_kind::unreachable: counts.assistant_unreachable.add(); return;
    case failure_kind::timeout: counts.assistant_timeouts.add(); return;
    case failure_kind::rate_limited: counts.assistant_upstream_rate_limited.add(); return;
    case failure_kind::server_error: counts.assistant_server_errors.add(); return;
    case failure_kind::bad_answer: counts.assistant_bad_answers.add(); return;
    case failure_kind::incomplete: counts.assistant_incomplete_answers.add(); return;
    case failure_kind::too_large: counts.assistant_too_large.add(); return;
    case failure_kind::cancelled: return; // Only at shutdown: nothing to count.
    }
}

void assistant_bot::send_reply(const bot_trigger& trigger, std::uint64_t answered_id,
                               std::string_view text) {
    const std::string id_text = std::to_string(answered_id);
    mqtt::publish reply;
    reply.topic_name = trigger.reply_topic;
    reply.payload = mqtt::shared_bytes::copy_of(text);
    reply.qos_level = mqtt::qos::at_least_once;
    reply.props.payload_format_indicator = 1;
    reply.props.correlation_data = mqtt::byte_vector(id_text.begin(), id_text.end());
    reply.props.user_properties.push_back({"reply_to", id_text});
    if (!client_ || !client_->publish(std::move(reply))) {
        log_warning("assistant {}: not connected; the reply to message {} in {} is dropped",
                    config_.user, answered_id, trigger.conversation);
    }
}

} // namespace perch::gateway::assistant
