// The short way out for outbound PUBLISH packets. A session normally hands every packet to its
// gateway as a send_packet action; a delivery is by far the most frequent, and building, moving
// and destroying an action for each one costs more than encoding it. A gateway that installs a
// sink receives such a PUBLISH at once, while nothing else waits to be polled before it, so the
// order of everything the gateway sees is the same as through poll_action.
#pragma once

#include "mqtt/packet.hpp"

namespace perch::mqtt {

/// Receives outbound PUBLISH packets straight from a session (see session::set_publish_sink).
class publish_sink {
public:
    /// Sends `out`, encoded at the session's protocol version, as if it had been polled as
    /// send_packet. Returns false to decline (the session then queues it as send_packet, to be
    /// handled with the gateway's full rules, such as its output limit). Must not call back into
    /// the session, except session::choose_topic_alias on `out` once it has decided to send it.
    virtual bool take_publish(publish& out) = 0;

protected:
    publish_sink() = default;
    publish_sink(const publish_sink&) = default;
    publish_sink& operator=(const publish_sink&) = default;
    ~publish_sink() = default;
};

} // namespace perch::mqtt
