// The assistant bot: a chat user, connected in process, that answers direct messages and room
// messages mentioning it through an OpenAI-compatible chat completions endpoint. Its answers are
// ordinary chat messages (ids, history, offline delivery, access control), each naming the
// message it answers with user property `reply_to` and correlation data. Runs on one worker.
//
// Theory of operation. A message arrives from the in-process client -> classify_message decides
// whether to answer -> the rate limits and the concurrency bound are checked (a refusal is a
// short reply) -> the conversation's recent history is read from the chat store (its completion
// is posted back to the worker) -> one completion call runs on the worker's event loop (typing
// signals while a stream arrives) -> the answer, or a short failure reply, is published and
// counted. Nothing blocks the worker; a call always ends (its deadline), so the bot never sticks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/assistant/assistant_context.hpp"
#include "gateway/assistant/assistant_reply.hpp"
#include "gateway/assistant/assistant_trigger.hpp"
#include "gateway/assistant/completion_client.hpp"
#include "gateway/assistant/completion_protocol.hpp"
#include "gateway/assistant/rate_limiter.hpp"
#include "gateway/broker/server.hpp"
#include "gateway/client/in_process_client.hpp"
#include "gateway/client/tls_client_stream.hpp"
#include "gateway/common/config.hpp"
#include "gateway/common/endpoint_url.hpp"
#include "mqtt/packet.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway::assistant {

/// The bot. Constructed on the main thread at start; everything else runs on `home`'s thread.
class assistant_bot : public in_process_service,
                      public std::enable_shared_from_this<assistant_bot> {
public:
    /// A bot for `config` with `api_key` (may be empty). Throws std::runtime_error when the
    /// endpoint URL is unusable or the CA file of an https endpoint cannot be loaded.
    assistant_bot(server& owner, worker& home, const assistant_config& config, std::string api_key);
    ~assistant_bot();
    assistant_bot(const assistant_bot&) = delete;
    assistant_bot& operator=(const assistant_bot&) = delete;

    /// Connects the bot's chat session (and keeps it connected).
    void start() override;
    /// Disconnects for good; calls still running are cancelled and publish nothing.
    void stop() override;
    /// Adds the bot's counters (kept in `home`'s worker_counters) as stats.assistant_counts.
    void add_stats(broker_stats& stats) const override;

private:
    struct pending_call;

    void handle_message(const mqtt::publish& message);
    void read_context(std::shared_ptr<pending_call> call);
    void call_model(std::shared_ptr<pending_call> call,
                    const std::vector<store::history_record>& history);
    void on_progress(const std::shared_ptr<pending_call>& call);
    void on_result(const std::shared_ptr<pending_call>& call, completion_result result);
    void count_failure(failure_kind kind);
    void send_reply(const bot_trigger& trigger, std::uint64_t answered_id, std::string_view text);

    server& server_;
    worker& worker_;
    assistant_config config_;
    endpoint_url url_;
    /// Never logged, never in a reply.
    std::string api_key_;
    std::unique_ptr<client::tls_client_context> tls_;
    rate_limiter limiter_;
    std::shared_ptr<client::in_process_client> client_;
    /// Calls between the history read and the result.
    std::size_t active_calls_ = 0;
    /// The completion calls started (expired ones are dropped as new ones start).
    std::vector<std::weak_ptr<completion_cancel>> running_;
    bool is_stopped_ = false;
};

} // namespace perch::gateway::assistant
