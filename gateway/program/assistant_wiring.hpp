// Where the program decides whether the broker runs the assistant bot (docs/ASSISTANT.md) and
// bridges (docs/BRIDGES.md): the broker knows only an in_process_service; this is the one place
// that names them.
#pragma once

#include <vector>

#include "gateway/broker/server.hpp"
#include "gateway/common/bridge_config.hpp"
#include "gateway/common/config.hpp"

namespace perch::gateway {

/// Has `broker` start the assistant bot when `config` sets assistant_endpoint and chat is
/// persistent (a warning says why not when it is not). At broker.start(), before the workers
/// run: reads the API key and prepares the bot's chat user (throws std::runtime_error, failing
/// the start, when either cannot be done). Also runs a bridge for each of `bridges`
/// (parse_bridges). Call before broker.start().
void wire_assistant(server& broker, const broker_config& config,
                    std::vector<bridge_config> bridges = {});

} // namespace perch::gateway
