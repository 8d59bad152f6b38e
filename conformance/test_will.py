# Conformance tests for the Will Message and DISCONNECT (3.1.2.5-3.1.2.7, 3.1.3.2-3.1.3.3, 3.14),
# for MQTT 3.1.1 and 5.0: published on abnormal close, discarded on a normal DISCONNECT.
"""Will Message and DISCONNECT conformance tests."""

import time

import mqtt_wire as wire
from suite import case


def will_watcher(t, topic):
    watcher = t.client()
    watcher.subscribe([(topic, 1)])
    return watcher


@case(
    "will is published when the connection drops without DISCONNECT",
    v4=("MQTT-3.1.2-8", "MQTT-3.1.2-16"),
    v5=("MQTT-3.1.2-7", "MQTT-3.1.2-8", "MQTT-3.1.2-14"),
)
def will_on_abnormal_close(t):
    topic = t.topic("will")
    watcher = will_watcher(t, topic)
    will = {"topic": topic, "payload": b"gone", "qos": 1}
    client = t.client(will=will)
    client.close()
    got = watcher.messages(2.0, count=1)
    t.check([m.payload for m in got] == [b"gone"], "watcher got %r" % got)
    t.check(got[0].retain == 0, "will with Will Retain 0 delivered as retained")
    late = t.client()
    late.subscribe([topic])
    t.check(not late.messages(0.3), "will with Will Retain 0 was stored as retained")


@case(
    "will with Will Retain 1 is published as a retained message",
    v4="MQTT-3.1.2-17",
    v5="MQTT-3.1.2-15",
)
def will_retained(t):
    topic = t.topic("will")
    will = {"topic": topic, "payload": b"last words", "qos": 1, "retain": True}
    client = t.client(will=will)
    client.close()
    time.sleep(0.3)
    late = t.client()
    late.subscribe([(topic, 1)])
    got = late.messages(1.5, count=1)
    t.check(len(got) == 1 and got[0].payload == b"last words" and got[0].retain == 1,
            "late subscriber got %r" % got)
    t.client().publish(topic, b"", retain=True)


@case(
    "will is discarded on DISCONNECT",
    v4=("MQTT-3.14.4-3", "MQTT-3.1.2-10"),
    v5=("MQTT-3.14.4-3", "MQTT-3.1.2-10"),
)
def will_discarded_on_disconnect(t):
    topic = t.topic("will")
    watcher = will_watcher(t, topic)
    client = t.client(will={"topic": topic, "payload": b"should not appear"})
    client.disconnect()
    t.check(not watcher.messages(0.6), "will published after a normal DISCONNECT")


@case(
    "will is published when the server closes on a protocol violation",
    v4="MQTT-3.1.2-8",
    v5="MQTT-3.1.2-8",
)
def will_after_protocol_violation(t):
    topic = t.topic("will")
    watcher = will_watcher(t, topic)
    client = t.client(will={"topic": topic, "payload": b"violated"})
    client.send(wire.publish(t.topic(), b"bad", qos=3, packet_id=1, version=t.version))
    t.expect_error_close(client, what="a QoS 3 PUBLISH")
    got = watcher.messages(2.0, count=1)
    t.check([m.payload for m in got] == [b"violated"], "watcher got %r" % got)


@case(
    "DISCONNECT with reserved flags is malformed; the will is then published",
    v4=("MQTT-2.2.2-1", "MQTT-2.2.2-2"),
    v5=("MQTT-3.14.1-1", "MQTT-2.1.3-1"),
)
def disconnect_bad_flags(t):
    topic = t.topic("will")
    watcher = will_watcher(t, topic)
    client = t.client(will={"topic": topic, "payload": b"malformed disconnect"})
    client.send(wire.disconnect(t.version, flags=0x01))
    t.expect_error_close(client, what="a DISCONNECT with flags 0001")
    got = watcher.messages(2.0, count=1)
    t.check([m.payload for m in got] == [b"malformed disconnect"],
            "a malformed DISCONNECT discarded the will: %r" % got)


@case("DISCONNECT with reason 0x04 publishes the will", v5="MQTT-3.1.2-8")
def disconnect_with_will_message(t):
    topic = t.topic("will")
    watcher = will_watcher(t, topic)
    client = t.client(will={"topic": topic, "payload": b"asked for"})
    client.disconnect(reason_code=0x04)
    got = watcher.messages(2.0, count=1)
    t.check([m.payload for m in got] == [b"asked for"], "watcher got %r" % got)


@case("will is delayed by the Will Delay Interval", v5=("MQTT-3.1.2-8", "MQTT-3.1.3-9"))
def will_delay_interval(t):
    topic = t.topic("will")
    watcher = will_watcher(t, topic)
    client_id = t.client_id()
    will = {"topic": topic, "payload": b"delayed", "properties": [(wire.WILL_DELAY_INTERVAL, 1)]}
    session = [(wire.SESSION_EXPIRY_INTERVAL, 30)]
    client = t.client(client_id, clean=False, will=will, properties=session)
    client.close()
    started = time.monotonic()
    got = watcher.messages(3.5, count=1)
    elapsed = time.monotonic() - started
    t.check([m.payload for m in got] == [b"delayed"], "watcher got %r" % got)
    t.check(elapsed >= 0.8, "will published after %.2f s, before its 1 s delay" % elapsed)
    t.note("will after %.2f s" % elapsed)
    # A reconnection within the delay cancels the will.
    will["properties"] = [(wire.WILL_DELAY_INTERVAL, 2)]
    client = t.client(client_id, clean=False, will=will, properties=session)
    client.close()
    time.sleep(0.3)
    back = t.client(client_id, clean=False, properties=session)
    t.check(not watcher.messages(2.5), "will published although the session reconnected")
    back.disconnect()
