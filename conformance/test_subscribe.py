# Conformance tests for SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK (chapters 3.8-3.11), topic filters
# and wildcards (4.7), and retained messages (3.3.1.3), for MQTT 3.1.1 and 5.0.
"""Subscription, topic and retained-message conformance tests."""

import mqtt_wire as wire
from suite import case

SUBACK_CODES_V4 = {0x00, 0x01, 0x02, 0x80}
SUBACK_CODES_V5 = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}
UNSUBACK_CODES_V5 = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}


def forget_retained(t, topic):
    """Clears a retained message so later tests and brokers start clean."""
    t.client().publish(topic, b"", retain=True)


@case("SUBSCRIBE reserved flags must be 0010", v4="MQTT-3.8.1-1", v5="MQTT-3.8.1-1")
def subscribe_bad_flags(t):
    client = t.client()
    client.send(wire.subscribe(1, [(t.topic(), 0)], t.version, flags=0x00))
    t.expect_error_close(client, what="a SUBSCRIBE with flags 0000")


@case("SUBSCRIBE without topic filters is a protocol violation", v4="MQTT-3.8.3-3",
      v5="MQTT-3.8.3-2")
def subscribe_empty_payload(t):
    client = t.client()
    client.send(wire.subscribe(1, [], t.version))
    t.expect_error_close(client, what="a SUBSCRIBE with no topic filter")


# In 5.0 a Maximum QoS of 3 is a Protocol Error (§3.8.3.1) rather than a reserved-bit violation.
@case("requested QoS 3 in SUBSCRIBE is refused", v4="MQTT-3.8.3-4", v5="MQTT-4.13.1-1")
def subscribe_qos_three(t):
    client = t.client()
    client.send(wire.subscribe(1, [(t.topic(), 3)], t.version))
    t.expect_error_close(client, what="requested QoS 3")


@case("reserved bits of the subscription options must be 0", v4="MQTT-3.8.3-4",
      v5="MQTT-3.8.3-5")
def subscribe_reserved_option_bits(t):
    client = t.client()
    client.send(wire.subscribe(1, [(t.topic(), 0x40 | 0x01)], t.version))
    t.expect_error_close(client, what="subscription options with bit 6 set")


@case(
    "SUBACK: same packet id, one return code per filter, in order",
    v4=("MQTT-3.8.4-1", "MQTT-3.8.4-2", "MQTT-3.8.4-4", "MQTT-3.8.4-5", "MQTT-3.9.3-1",
        "MQTT-3.9.3-2", "MQTT-2.3.1-7"),
    v5=("MQTT-3.8.4-1", "MQTT-3.8.4-2", "MQTT-3.8.4-5", "MQTT-3.8.4-6", "MQTT-3.8.4-7",
        "MQTT-3.9.3-1", "MQTT-3.9.3-2", "MQTT-2.2.1-6"),
)
def suback_matches_request(t):
    base = t.topic()
    client = t.client()
    client.send(
        wire.subscribe(0x4242, [(base + "/a", 2), (base + "/b", 0), (base + "/c", 1)], t.version)
    )
    suback = client.expect(wire.SUBACK)
    t.check(suback.packet_id == 0x4242, "SUBACK id 0x%04x" % suback.packet_id)
    t.check(len(suback.reason_codes) == 3, "SUBACK codes %r" % suback.reason_codes)
    allowed = SUBACK_CODES_V5 if t.v5 else SUBACK_CODES_V4
    t.check(set(suback.reason_codes) <= allowed, "SUBACK codes %r" % suback.reason_codes)
    for requested, granted in zip((2, 0, 1), suback.reason_codes):
        t.check(granted <= requested, "granted %d for requested %d" % (granted, requested))
    t.check(suback.reason_codes == [2, 0, 1], "SUBACK %r, this server grants all QoS" % suback)
    publisher = t.client()
    for leaf in ("a", "b", "c"):
        publisher.publish(base + "/" + leaf, leaf.encode(), qos=2)
    got = client.messages(1.0, count=3)
    t.check(sorted((m.topic[-1], m.qos) for m in got) == [("a", 2), ("b", 0), ("c", 1)],
            "deliveries %r do not follow the granted QoS" % got)


@case(
    "invalid topic filters are refused",
    v4=("MQTT-4.7.1-2", "MQTT-4.7.1-3"),
    v5=("MQTT-4.7.1-1", "MQTT-4.7.1-2"),
)
def invalid_topic_filters(t):
    base = t.topic()
    for bad in (base + "/#/x", base + "/a#", base + "/a+", base + "/+b/c"):
        client = t.client()
        client.send(wire.subscribe(1, [(bad, 0)], t.version))
        got = client.recv(2.0)
        if got is None:
            t.check(client.closed, "no answer and no close for filter %r" % bad)
            t.choice("closes the connection on an invalid filter")
            continue
        if got.type == wire.DISCONNECT and t.v5:
            t.check(got.reason_code >= 0x80, "DISCONNECT 0x%02x" % got.reason_code)
            t.choice("DISCONNECT 0x%02x on an invalid filter" % got.reason_code)
            continue
        t.check(got.type == wire.SUBACK, "filter %r answered with %r" % (bad, got))
        t.check(got.reason_codes and got.reason_codes[0] >= 0x80,
                "invalid filter %r granted: %r" % (bad, got))
        t.choice("SUBACK 0x%02x on an invalid filter" % got.reason_codes[0])


@case(
    "wildcard matching: '#' includes the parent level, '+' exactly one level",
    v4=("MQTT-4.7.1-2", "MQTT-4.7.1-3", "MQTT-3.3.2-3"),
    v5=("MQTT-4.7.1-1", "MQTT-4.7.1-2", "MQTT-3.3.2-3"),
)
def wildcard_matching(t):
    base = t.topic("sport")
    cases = {
        base + "/#": {base, base + "/tennis", base + "/tennis/p1", base + "/"},
        base + "/+": {base + "/tennis", base + "/"},
        base + "/+/p1": {base + "/tennis/p1"},
        "+/" + base.split("/", 1)[1]: {base},
    }
    published = [base, base + "/tennis", base + "/tennis/p1", base + "/"]
    watchers = {}
    for topic_filter in cases:
        watcher = t.client()
        watcher.subscribe([(topic_filter, 0)])
        watchers[topic_filter] = watcher
    publisher = t.client()
    for topic in published:
        publisher.publish(topic, topic.encode())
    for topic_filter, expected in cases.items():
        got = {m.topic for m in watchers[topic_filter].messages(0.4)}
        t.check(got == expected, "filter %r matched %r, want %r" % (topic_filter, got, expected))


@case("wildcards at the start do not match topics beginning with $", v4="MQTT-4.7.2-1",
      v5="MQTT-4.7.2-1")
def dollar_topics_not_matched(t):
    leaf = t.client_id("d")
    dollar = "$" + leaf + "/x"
    hash_all = t.client()
    hash_all.subscribe(["#"])
    hash_all.messages(0.3)  # retained messages of other tests
    plus = t.client()
    plus.subscribe(["+/x"])
    plus.messages(0.2)
    explicit = t.client()
    explicit.subscribe([("$" + leaf + "/#", 0)])
    publisher = t.client()
    publisher.publish(dollar, b"dollar")
    if publisher.closed:
        t.choice("refuses client publications to $ topics")
        return
    wildcard_hits = [m for m in hash_all.messages(0.4) + plus.messages(0.2) if m.topic == dollar]
    t.check(not wildcard_hits, "'#' or '+/x' matched %r" % dollar)
    if not explicit.messages(0.4):
        t.choice("does not route client publications to $ topics")


@case("topic matching is exact: no case folding or normalisation", v4="MQTT-4.7.3-4",
      v5="MQTT-4.7.3-4")
def no_topic_normalisation(t):
    base = t.topic()
    watcher = t.client()
    watcher.subscribe([base + "/Caf\u00e9"])
    publisher = t.client()
    # Lower case, decomposed accent (NFD), trailing space, then the exact name.
    for leaf in ("caf\u00e9", "Cafe\u0301", "Caf\u00e9 ", "Caf\u00e9"):
        publisher.publish(base + "/" + leaf, leaf.encode("utf-8"))
    got = [m.topic for m in watcher.messages(0.5)]
    t.check(got == [base + "/Caf\u00e9"], "subscriber got %r" % got)


@case(
    "identical filter replaces the subscription and resends retained messages",
    v4="MQTT-3.8.4-3",
    v5=("MQTT-3.8.4-3", "MQTT-3.8.4-4"),
)
def resubscribe_replaces(t):
    topic = t.topic()
    publisher = t.client()
    publisher.publish(topic, b"kept", qos=1, retain=True)
    client = t.client()
    client.subscribe([(topic, 0)])
    first = client.messages(0.5, count=1)
    t.check([m.payload for m in first] == [b"kept"], "retained message not sent: %r" % first)
    suback = client.subscribe([(topic, 1)])
    t.check(suback.reason_codes == [1], "SUBACK %r" % suback)
    again = client.messages(0.5, count=1)
    t.check([m.payload for m in again] == [b"kept"], "retained not re-sent on replace: %r" % again)
    publisher.publish(topic, b"live", qos=1)
    live = client.messages(0.5)
    t.check([(m.payload, m.qos) for m in live] == [(b"live", 1)],
            "after replacing, deliveries were %r (want one copy at QoS 1)" % live)
    forget_retained(t, topic)


@case(
    "retained message: stored, sent to new subscribers with RETAIN 1",
    v4=("MQTT-3.3.1-5", "MQTT-3.3.1-6", "MQTT-3.3.1-8"),
    v5=("MQTT-3.3.1-5", "MQTT-3.3.1-9"),
)
def retained_delivered_to_new_subscriber(t):
    topic = t.topic()
    t.client().publish(topic, b"state", qos=1, retain=True)
    late = t.client()
    late.subscribe([(topic, 1)])
    got = late.messages(0.6, count=1)
    t.check(len(got) == 1 and got[0].payload == b"state", "late subscriber got %r" % got)
    t.check(got[0].retain == 1, "retained message sent with RETAIN 0")
    forget_retained(t, topic)


@case(
    "retained message is replaced by a newer one",
    v4=("MQTT-3.3.1-5", "MQTT-3.3.1-7"),
    v5="MQTT-3.3.1-5",
)
def retained_replaced(t):
    topic = t.topic()
    publisher = t.client()
    publisher.publish(topic, b"old", qos=1, retain=True)
    publisher.publish(topic, b"new", qos=0, retain=True)
    late = t.client()
    late.subscribe([(topic, 0)])
    got = late.messages(0.5)
    t.check([m.payload for m in got] == [b"new"], "late subscriber got %r" % got)
    forget_retained(t, topic)


@case(
    "zero-byte retained message clears the topic and is delivered normally",
    v4=("MQTT-3.3.1-10", "MQTT-3.3.1-11"),
    v5=("MQTT-3.3.1-6", "MQTT-3.3.1-7"),
)
def retained_cleared(t):
    topic = t.topic()
    publisher = t.client()
    publisher.publish(topic, b"soon gone", qos=1, retain=True)
    live = t.client()
    live.subscribe([(topic, 0)])
    live.messages(0.5, count=1)
    publisher.publish(topic, b"", qos=1, retain=True)
    got = live.messages(0.5, count=1)
    t.check(len(got) == 1 and got[0].payload == b"", "live subscriber got %r" % got)
    t.check(got[0].retain == 0, "live delivery of the clearing message has RETAIN 1")
    late = t.client()
    late.subscribe([(topic, 0)])
    t.check(not late.messages(0.4), "retained message survived a zero-byte retained publish")


@case(
    "non-retained publish neither stores nor replaces the retained message",
    v4="MQTT-3.3.1-12",
    v5="MQTT-3.3.1-8",
)
def non_retained_keeps_retained(t):
    topic = t.topic()
    publisher = t.client()
    publisher.publish(topic, b"retained", qos=1, retain=True)
    publisher.publish(topic, b"plain", qos=1)
    publisher.publish(topic + "/other", b"plain only", qos=1)
    late = t.client()
    late.subscribe([(topic, 0), (topic + "/other", 0)])
    got = late.messages(0.5)
    t.check([m.payload for m in got] == [b"retained"], "late subscriber got %r" % got)
    forget_retained(t, topic)


@case(
    "live deliveries on an established subscription have RETAIN 0",
    v4="MQTT-3.3.1-9",
    v5="MQTT-3.3.1-12",
)
def retain_flag_cleared_for_live_delivery(t):
    topic = t.topic()
    live = t.client()
    live.subscribe([(topic, 0)])
    t.client().publish(topic, b"live retained", qos=1, retain=True)
    got = live.messages(0.5, count=1)
    t.check(len(got) == 1 and got[0].retain == 0, "live subscriber got %r" % got)
    forget_retained(t, topic)


@case("UNSUBSCRIBE reserved flags must be 0010", v4="MQTT-3.10.1-1", v5="MQTT-3.10.1-1")
def unsubscribe_bad_flags(t):
    client = t.client()
    client.send(wire.unsubscribe(1, [t.topic()], t.version, flags=0x00))
    t.expect_error_close(client, what="an UNSUBSCRIBE with flags 0000")


@case("UNSUBSCRIBE without topic filters is a protocol violation", v4="MQTT-3.10.3-2",
      v5="MQTT-3.10.3-2")
def unsubscribe_empty_payload(t):
    client = t.client()
    client.send(wire.unsubscribe(1, [], t.version))
    t.expect_error_close(client, what="an UNSUBSCRIBE with no topic filter")


@case(
    "UNSUBACK: same packet id, sent even when nothing matched, one per request",
    v4=("MQTT-3.10.4-4", "MQTT-3.10.4-5", "MQTT-3.10.4-6", "MQTT-2.3.1-7"),
    v5=("MQTT-3.10.4-4", "MQTT-3.10.4-5", "MQTT-3.10.4-6", "MQTT-3.11.3-1", "MQTT-3.11.3-2"),
)
def unsuback_matches_request(t):
    base = t.topic()
    client = t.client()
    client.subscribe([base + "/a"])
    client.send(wire.unsubscribe(0x3131, [base + "/a", base + "/never"], t.version))
    unsuback = client.expect(wire.UNSUBACK)
    t.check(unsuback.packet_id == 0x3131, "UNSUBACK id 0x%04x" % unsuback.packet_id)
    if t.v5:
        t.check(len(unsuback.reason_codes) == 2, "UNSUBACK codes %r" % unsuback.reason_codes)
        t.check(set(unsuback.reason_codes) <= UNSUBACK_CODES_V5, "codes %r" %
                unsuback.reason_codes)
        t.check(unsuback.reason_codes[0] == 0x00, "existing subscription: 0x%02x" %
                unsuback.reason_codes[0])
        t.check(unsuback.reason_codes[1] in (0x00, 0x11), "no subscription: 0x%02x" %
                unsuback.reason_codes[1])
    client.send(wire.pingreq())
    client.expect(wire.PINGRESP, what="(only one UNSUBACK per UNSUBSCRIBE)")


@case(
    "after UNSUBSCRIBE no new messages; filters compared character by character",
    v4=("MQTT-3.10.4-1", "MQTT-3.10.4-2"),
    v5=("MQTT-3.10.4-1", "MQTT-3.10.4-2"),
)
def unsubscribe_stops_delivery(t):
    base = t.topic()
    client = t.client()
    client.subscribe([base + "/a", base + "/+"])
    client.unsubscribe([base + "/+", base + "/#"])
    publisher = t.client()
    publisher.publish(base + "/a", b"still subscribed", qos=1)
    publisher.publish(base + "/b", b"unsubscribed", qos=1)
    got = [m.payload for m in client.messages(0.5)]
    t.check(got == [b"still subscribed"], "after unsubscribing '+', got %r" % got)


@case("PINGREQ is answered with PINGRESP", v4="MQTT-3.12.4-1", v5="MQTT-3.12.4-1")
def ping(t):
    client = t.client()
    for _ in range(3):
        client.send(wire.pingreq())
        client.expect(wire.PINGRESP)
