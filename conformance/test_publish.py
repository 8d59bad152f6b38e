# Conformance tests for PUBLISH and its acknowledgements (chapters 3.3-3.7) and the QoS flows,
# retransmission and ordering rules of chapter 4 (4.3, 4.4, 4.6), for MQTT 3.1.1 and 5.0.
"""PUBLISH / PUBACK / PUBREC / PUBREL / PUBCOMP conformance tests."""

import mqtt_wire as wire
from suite import case


def subscriber(t, topic_filter, qos=1, **connect_options):
    """A connected client subscribed to ``topic_filter`` at ``qos``."""
    client = t.client(**connect_options)
    suback = client.subscribe([(topic_filter, qos)])
    t.check(suback.reason_codes == [qos], "SUBACK %r for QoS %d" % (suback, qos))
    return client


@case("PUBLISH with both QoS bits set is malformed", v4="MQTT-3.3.1-4", v5="MQTT-3.3.1-4")
def publish_qos_three(t):
    topic = t.topic()
    watcher = subscriber(t, topic)
    client = t.client()
    client.send(wire.publish(topic, b"qos3", qos=3, packet_id=5, version=t.version))
    t.expect_error_close(client, what="a PUBLISH with QoS 3")
    t.check(not watcher.messages(0.3), "a QoS 3 PUBLISH was delivered")


@case("DUP must be 0 for QoS 0", v4=("MQTT-3.3.1-2", "MQTT-4.8.0-1"), v5="MQTT-3.3.1-2",
      deviations={"mosquitto": "2.0.11 accepts DUP=1 on QoS 0 and keeps the connection"})
def publish_dup_with_qos0(t):
    client = t.client()
    client.send(wire.publish(t.topic(), b"dup0", qos=0, dup=True, version=t.version))
    t.expect_error_close(client, what="a QoS 0 PUBLISH with DUP=1")


@case(
    "topic name must not contain wildcards",
    v4=("MQTT-3.3.2-2", "MQTT-4.7.1-1"),
    v5=("MQTT-3.3.2-2", "MQTT-4.7.0-1"),
)
def publish_wildcard_topic(t):
    for bad in (t.topic("+"), t.topic("#"), t.topic("a+b")):
        client = t.client()
        client.send(wire.publish(bad, b"wild", version=t.version))
        t.expect_error_close(client, what="PUBLISH to %r" % bad)


@case("topic name must be at least one character", v4="MQTT-4.7.3-1", v5="MQTT-4.7.3-1")
def publish_empty_topic(t):
    client = t.client()
    client.send(wire.publish("", b"nowhere", version=t.version))
    t.expect_error_close(client, what="PUBLISH to an empty topic name without an alias")


@case("topic name must not contain U+0000", v4=("MQTT-1.5.3-2", "MQTT-4.7.3-2"),
      v5=("MQTT-1.5.4-2", "MQTT-4.7.3-2"))
def publish_null_in_topic(t):
    client = t.client()
    client.send(wire.publish(t.topic("a\x00b"), b"nul", version=t.version))
    t.expect_error_close(client, what="a topic name containing U+0000")


@case("topic name must be well-formed UTF-8", v4="MQTT-1.5.3-1", v5="MQTT-1.5.4-1")
def publish_ill_formed_topic(t):
    client = t.client()
    client.send(wire.publish(t.topic().encode() + b"/\xc3\x28", b"bad", version=t.version))
    t.expect_error_close(client, what="a topic name with ill-formed UTF-8")


@case("U+FEFF in a topic is neither skipped nor stripped", v4="MQTT-1.5.3-3", v5="MQTT-1.5.4-3")
def byte_order_mark_preserved(t):
    plain = t.topic("bom")
    marked = "\ufeff" + plain
    watcher = subscriber(t, marked, qos=0)
    publisher = t.client()
    publisher.publish(plain, b"plain")
    publisher.publish(marked, b"marked")
    got = watcher.messages(0.5)
    t.check([m.payload for m in got] == [b"marked"], "subscriber of U+FEFF topic got %r" % got)
    t.check(got[0].topic == marked, "topic delivered as %r" % got[0].topic)


@case(
    "QoS 1: PUBACK carries the PUBLISH packet id",
    v4=("MQTT-4.3.2-2", "MQTT-2.3.1-6", "MQTT-3.3.4-1"),
    v5=("MQTT-4.3.2-4", "MQTT-2.2.1-5", "MQTT-3.3.4-1", "MQTT-3.4.2-1"),
)
def qos1_puback(t):
    client = t.client()
    for packet_id in (1, 0x1234, 0xFFFF):
        client.send(wire.publish(t.topic(), b"q1", qos=1, packet_id=packet_id, version=t.version))
        puback = client.expect(wire.PUBACK)
        t.check(puback.packet_id == packet_id, "PUBACK id %d for %d" % (puback.packet_id,
                                                                       packet_id))
        if t.v5:
            t.check(puback.reason_code in (0x00, 0x10), "PUBACK reason 0x%02x" %
                    puback.reason_code)


@case(
    "QoS 2: PUBREC then PUBCOMP carry the packet id",
    v4=("MQTT-4.3.3-2", "MQTT-2.3.1-6", "MQTT-3.3.4-1"),
    v5=("MQTT-4.3.3-8", "MQTT-4.3.3-11", "MQTT-3.5.2-1", "MQTT-3.7.2-1"),
)
def qos2_flow(t):
    topic = t.topic()
    watcher = subscriber(t, topic, qos=2)
    client = t.client()
    client.send(wire.publish(topic, b"q2", qos=2, packet_id=77, version=t.version))
    pubrec = client.expect(wire.PUBREC)
    t.check(pubrec.packet_id == 77, "PUBREC id %d, want 77" % pubrec.packet_id)
    if t.v5:
        t.check(pubrec.reason_code in (0x00, 0x10), "PUBREC reason 0x%02x" % pubrec.reason_code)
    client.send(wire.ack(wire.PUBREL, 77, t.version))
    pubcomp = client.expect(wire.PUBCOMP)
    t.check(pubcomp.packet_id == 77, "PUBCOMP id %d, want 77" % pubcomp.packet_id)
    if t.v5:
        t.check(pubcomp.reason_code == 0x00, "PUBCOMP reason 0x%02x" % pubcomp.reason_code)
    got = watcher.messages(1.0, count=1)
    t.check(len(got) == 1 and got[0].qos == 2, "subscriber got %r" % got)


@case(
    "QoS 2: a resent PUBLISH before PUBREL is acknowledged but not delivered twice",
    v4="MQTT-4.3.3-2",
    v5="MQTT-4.3.3-10",
)
def qos2_duplicate_not_redelivered(t):
    topic = t.topic()
    watcher = subscriber(t, topic, qos=2)
    client = t.client()
    client.send(wire.publish(topic, b"once", qos=2, packet_id=9, version=t.version))
    client.expect(wire.PUBREC)
    client.send(wire.publish(topic, b"once", qos=2, packet_id=9, dup=True, version=t.version))
    again = client.expect(wire.PUBREC, what="for the resent PUBLISH")
    t.check(again.packet_id == 9, "PUBREC id %d" % again.packet_id)
    client.send(wire.ack(wire.PUBREL, 9, t.version))
    client.expect(wire.PUBCOMP)
    got = watcher.messages(0.6)
    t.check(len(got) == 1, "subscriber received %d copies: %r" % (len(got), got))


@case(
    "QoS 2: after PUBCOMP the same packet id is a new message",
    v4="MQTT-4.3.3-2",
    v5="MQTT-4.3.3-12",
)
def qos2_packet_id_reuse(t):
    topic = t.topic()
    watcher = subscriber(t, topic, qos=2)
    client = t.client()
    for payload in (b"first", b"second"):
        client.send(wire.publish(topic, payload, qos=2, packet_id=4, version=t.version))
        client.expect(wire.PUBREC)
        client.send(wire.ack(wire.PUBREL, 4, t.version))
        client.expect(wire.PUBCOMP)
    got = watcher.messages(1.0, count=2)
    t.check([m.payload for m in got] == [b"first", b"second"], "subscriber got %r" % got)


@case(
    "QoS 1: after PUBACK the same packet id is a new message",
    v4="MQTT-4.3.2-2",
    v5="MQTT-4.3.2-5",
)
def qos1_packet_id_reuse(t):
    topic = t.topic()
    watcher = subscriber(t, topic, qos=1)
    client = t.client()
    for payload, dup in ((b"first", False), (b"second", True)):
        client.send(wire.publish(topic, payload, qos=1, dup=dup, packet_id=3, version=t.version))
        client.expect(wire.PUBACK)
    got = watcher.messages(1.0, count=2)
    t.check([m.payload for m in got] == [b"first", b"second"], "subscriber got %r" % got)


@case("PUBREL reserved flags must be 0010", v4="MQTT-3.6.1-1", v5="MQTT-3.6.1-1")
def pubrel_bad_flags(t):
    client = t.client()
    client.send(wire.publish(t.topic(), b"x", qos=2, packet_id=12, version=t.version))
    client.expect(wire.PUBREC)
    client.send(wire.ack(wire.PUBREL, 12, t.version, flags=0x00))
    t.expect_error_close(client, what="a PUBREL with flags 0000")


@case("QoS > 0 PUBLISH needs a non-zero packet id", v4="MQTT-2.3.1-1", v5="MQTT-2.2.1-3")
def publish_packet_id_zero(t):
    client = t.client()
    client.send(wire.publish(t.topic(), b"id0", qos=1, packet_id=0, version=t.version))
    t.expect_error_close(client, what="a QoS 1 PUBLISH with packet id 0")


@case(
    "server delivery: non-zero packet id, DUP 0, topic matching the filter",
    v4=("MQTT-4.3.2-1", "MQTT-3.3.2-3", "MQTT-3.3.1-3"),
    v5=("MQTT-2.2.1-4", "MQTT-4.3.2-2", "MQTT-3.3.2-3", "MQTT-3.3.1-3"),
)
def delivery_fields(t):
    base = t.topic()
    watcher = subscriber(t, base + "/+", qos=1)
    client = t.client()
    client.publish(base + "/x", b"dup in", qos=1, dup=True)
    got = watcher.messages(1.0, count=1)
    t.check(len(got) == 1, "nothing delivered")
    message = got[0]
    t.check(message.packet_id not in (None, 0), "delivered with packet id %r" % message.packet_id)
    t.check(message.dup == 0, "DUP copied from the incoming PUBLISH to a first delivery")
    t.check(message.topic == base + "/x", "delivered topic %r" % message.topic)


@case(
    "delivered QoS is the minimum of published and granted QoS",
    v4="MQTT-3.8.4-6",
    v5="MQTT-3.8.4-8",
)
def qos_downgrade(t):
    topic = t.topic()
    low = subscriber(t, topic, qos=1)
    high = subscriber(t, topic, qos=2)
    publisher = t.client()
    publisher.publish(topic, b"q2", qos=2)
    publisher.publish(topic, b"q0", qos=0)
    low_got = low.messages(1.0, count=2)
    high_got = high.messages(1.0, count=2)
    t.check([(m.payload, m.qos) for m in low_got] == [(b"q2", 1), (b"q0", 0)],
            "QoS 1 subscriber got %r" % low_got)
    t.check([(m.payload, m.qos) for m in high_got] == [(b"q2", 2), (b"q0", 0)],
            "QoS 2 subscriber got %r" % high_got)


@case(
    "overlapping subscriptions: delivered at the maximum granted QoS",
    v4="MQTT-3.3.5-1",
    v5="MQTT-3.3.4-2",
    deviations={"mosquitto/3.1.1": "2.0.11 sends a 3.1.1 client one copy at the QoS of the first "
                "matching subscription"},
)
def overlapping_subscriptions(t):
    base = t.topic()
    client = t.client()
    suback = client.subscribe([(base + "/+", 0), (base + "/#", 2)])
    t.check(suback.reason_codes == [0, 2], "SUBACK %r" % suback)
    t.client().publish(base + "/x", b"both", qos=2)
    got = client.messages(0.8)
    t.check(got, "no delivery for two matching subscriptions")
    t.check(max(m.qos for m in got) == 2, "copies delivered at QoS %r" % [m.qos for m in got])
    if len(got) > 1:
        t.choice("one copy per matching subscription (%d copies)" % len(got))
    else:
        t.choice("a single copy for overlapping subscriptions")


@case(
    "messages on one topic are delivered in publish order",
    v4=("MQTT-4.6.0-5", "MQTT-4.6.0-6"),
    v5=("MQTT-4.6.0-5", "MQTT-4.6.0-6"),
)
def ordered_delivery(t):
    topic = t.topic()
    watchers = {qos: subscriber(t, topic, qos=qos) for qos in (0, 1, 2)}
    publisher = t.client()
    sent = [b"m%02d" % index for index in range(20)]
    for payload in sent:
        publisher.publish(topic, payload, qos=1)
    for qos, watcher in watchers.items():
        got = [m.payload for m in watcher.messages(2.0, count=len(sent))]
        t.check(got == sent, "QoS %d subscriber got %r" % (qos, got))


@case(
    "unacknowledged QoS 1 delivery is resent with DUP on session resumption",
    v4=("MQTT-4.4.0-1", "MQTT-3.3.1-1"),
    v5=("MQTT-4.4.0-1", "MQTT-3.3.1-1"),
)
def qos1_resent_on_reconnect(t):
    client_id = t.client_id()
    topic = t.topic()
    persistent = {"clean": False}
    if t.v5:
        persistent["properties"] = [(wire.SESSION_EXPIRY_INTERVAL, 60)]
    receiver = subscriber(t, topic, qos=1, client_id=client_id, **persistent)
    t.client().publish(topic, b"unacked", qos=1)
    first = receiver.messages(1.0, count=1, acknowledge=False)
    t.check(len(first) == 1, "nothing delivered")
    receiver.close()
    again = t.client(client_id, **persistent)
    got = again.messages(2.0, count=1, acknowledge=False)
    t.check(len(got) == 1, "unacknowledged message not resent after reconnect")
    t.check(got[0].payload == b"unacked", "resent %r" % got[0])
    t.check(got[0].packet_id == first[0].packet_id,
            "resent with packet id %d, originally %d" % (got[0].packet_id, first[0].packet_id))
    t.check(got[0].dup == 1, "resent PUBLISH has DUP 0")
    again.acknowledge(got[0])


@case(
    "unacknowledged PUBREL is resent on session resumption",
    v4="MQTT-4.4.0-1",
    v5="MQTT-4.4.0-1",
)
def pubrel_resent_on_reconnect(t):
    client_id = t.client_id()
    topic = t.topic()
    persistent = {"clean": False}
    if t.v5:
        persistent["properties"] = [(wire.SESSION_EXPIRY_INTERVAL, 60)]
    receiver = subscriber(t, topic, qos=2, client_id=client_id, **persistent)
    t.client().publish(topic, b"half done", qos=2)
    got = receiver.messages(1.0, count=1, acknowledge=False)
    t.check(len(got) == 1, "nothing delivered")
    packet_id = got[0].packet_id
    receiver.send(wire.ack(wire.PUBREC, packet_id, t.version))
    receiver.expect(wire.PUBREL)
    receiver.close()
    again = t.client(client_id, **persistent)
    resent = again.recv(2.0)
    t.check(resent is not None and resent.type == wire.PUBREL and resent.packet_id == packet_id,
            "after reconnect expected PUBREL %d, got %r" % (packet_id, resent))
    again.send(wire.ack(wire.PUBCOMP, packet_id, t.version))
    t.check(not again.messages(0.4), "message delivered again after PUBREC")
