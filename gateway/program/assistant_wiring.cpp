// The assistant bot and the bridges, made at the broker's start when the config asks for them.
#include "gateway/program/assistant_wiring.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/assistant/assistant_bot.hpp"
#include "gateway/assistant/assistant_setup.hpp"
#include "gateway/bridge/bridge_service.hpp"
#include "gateway/common/log.hpp"

namespace perch::gateway {

namespace {

/// Several in-process services run as one: started in order, stopped in reverse order.
class service_group final : public in_process_service {
public:
    explicit service_group(std::vector<std::shared_ptr<in_process_service>> members)
        : members_(std::move(members)) {}
    void start() override {
        for (const auto& member : members_) {
            member->start();
        }
    }
    void stop() override {
        for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
            (*it)->stop();
        }
    }
    void add_stats(broker_stats& stats) const override {
        for (const auto& member : members_) {
            member->add_stats(stats);
        }
    }

private:
    std::vector<std::shared_ptr<in_process_service>> members_;
};

std::shared_ptr<in_process_service> make_assistant(server& owner, const assistant_config& wanted,
                                                   bool is_persistent) {
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
}

} // namespace

void wire_assistant(server& broker, const broker_config& config,
                    std::vector<bridge_config> bridges) {
    std::vector<std::string> relay_peers;
    for (const bridge_config& bridge : bridges) {
        if (bridge.bridge_chat) {
            relay_peers.push_back(bridge.effective_local_username());
        }
    }
    broker.set_relay_peers(std::move(relay_peers));
    broker.set_in_process_service(
        [wanted = config.assistant, is_persistent = config.persistence,
         bridges = std::move(bridges)](server& owner) -> std::shared_ptr<in_process_service> {
            std::vector<std::shared_ptr<in_process_service>> members;
            if (auto bot = make_assistant(owner, wanted, is_persistent)) {
                members.push_back(std::move(bot));
            }
            if (!bridges.empty()) {
                members.push_back(std::make_shared<bridge::bridge_service>(owner, bridges));
            }
            if (members.empty()) {
                return nullptr;
            }
            if (members.size() == 1) {
                return members.front();
            }
            return std::make_shared<service_group>(std::move(members));
        });
}

} // namespace perch::gateway
