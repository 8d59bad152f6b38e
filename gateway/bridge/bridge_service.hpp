// The broker's bridges as one in-process service: made from the `connection` blocks, started and
// stopped with the broker on worker 0, counted in $SYS and /metrics.
#pragma once

#include <memory>
#include <vector>

#include "gateway/bridge/bridge.hpp"
#include "gateway/broker/server.hpp"

namespace perch::gateway::bridge {

class bridge_service : public in_process_service {
public:
    /// The bridges of `configs` on worker 0 of `owner`, each local user added to the chat
    /// directory when missing (so that its acl_file block applies). Throws std::runtime_error
    /// when a bridge_cafile cannot be loaded or the chat store refuses a user.
    bridge_service(server& owner, const std::vector<bridge_config>& configs);
    ~bridge_service() override;

    void start() override;
    void stop() override;
    void add_stats(broker_stats& stats) const override;

private:
    std::vector<std::unique_ptr<client::tls_client_context>> tls_contexts_;
    std::vector<std::shared_ptr<bridge>> bridges_;
};

} // namespace perch::gateway::bridge
