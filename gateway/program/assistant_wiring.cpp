// The assistant bot, made at the broker's start when the config asks for it.
#include "gateway/program/assistant_wiring.hpp"

#include <memory>
#include <string>
#include <utility>

#include "gateway/assistant/assistant_bot.hpp"
#include "gateway/assistant/assistant_setup.hpp"
#include "gateway/common/log.hpp"

namespace perch::gateway {

void wire_assistant(server& broker, const broker_config& config) {
    broker.set_in_process_service([wanted = config.assistant, is_persistent = config.persistence](
                                      server& owner) -> std::shared_ptr<in_process_service> {
        if (wanted.endpoint.empty()) {
            return nullptr;
        }
        if (!is_persistent) {
            log_warning("assistant: off, because chat needs persistence true");
            return nullptr;
        }
        std::string api_key = assistant::load_api_key(wanted);
        assistant::prepare_bot_user(owner.chat(), wanted);
        return std::make_shared<assistant::assistant_bot>(owner, owner.worker_at(0), wanted,
                                                          std::move(api_key));
    });
}

} // namespace perch::gateway
