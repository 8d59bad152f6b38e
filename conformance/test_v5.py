# Conformance tests for MQTT 5.0 features: properties forwarded unaltered, message and session
# expiry, topic aliases, flow control, packet size limits, subscription options and identifiers,
# shared subscriptions, authentication method and reason codes.
"""MQTT 5.0 feature conformance tests."""

import time

import mqtt_wire as wire
from suite import case

CONNACK_CODES = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
                 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}
PROBLEM_PROPERTIES = (wire.REASON_STRING, wire.USER_PROPERTY)


def watcher(t, topic_filter, qos=1, options=None, **connect_options):
    client = t.client(**connect_options)
    suback = client.subscribe([(topic_filter, qos if options is None else options)])
    t.check(suback.reason_codes[0] < 0x80, "SUBACK %r" % suback)
    return client


def one_message(t, client, what, timeout=1.0):
    got = client.messages(timeout, count=1)
    t.check(len(got) == 1, "%s: expected one message, got %r" % (what, got))
    return got[0]


@case("user properties are forwarded unaltered and in order",
      v5=("MQTT-3.3.2-17", "MQTT-3.3.2-18"))
def user_properties_forwarded(t):
    topic = t.topic()
    receiver = watcher(t, topic)
    pairs = [("b", "2"), ("a", "1"), ("b", "1"), ("\u00e9t\u00e9", ""), ("a", "1")]
    t.client().publish(topic, b"x", qos=1, properties=[(wire.USER_PROPERTY, p) for p in pairs])
    got = one_message(t, receiver, "user properties")
    t.check(got.props(wire.USER_PROPERTY) == pairs, "forwarded %r" % got.props(wire.USER_PROPERTY))


@case("response topic and correlation data are forwarded unaltered",
      v5=("MQTT-3.3.2-15", "MQTT-3.3.2-16"))
def request_response_properties(t):
    topic = t.topic()
    receiver = watcher(t, topic)
    correlation = bytes(range(256))
    t.client().publish(topic, b"req", qos=1, properties=[
        (wire.RESPONSE_TOPIC, t.topic("reply")), (wire.CORRELATION_DATA, correlation)])
    got = one_message(t, receiver, "request")
    t.check(got.prop(wire.RESPONSE_TOPIC) == t.topic("reply"), "response topic %r" %
            got.prop(wire.RESPONSE_TOPIC))
    t.check(got.prop(wire.CORRELATION_DATA) == correlation, "correlation data altered")


@case("payload format indicator and content type are forwarded unaltered",
      v5=("MQTT-3.3.2-4", "MQTT-3.3.2-20"))
def payload_format_and_content_type(t):
    topic = t.topic()
    receiver = watcher(t, topic)
    publisher = t.client()
    publisher.publish(topic, "h\u00e9llo".encode(), qos=1, properties=[
        (wire.PAYLOAD_FORMAT_INDICATOR, 1), (wire.CONTENT_TYPE, "text/plain; charset=utf-8")])
    publisher.publish(topic, b"\xff\x00", qos=1, properties=[(wire.PAYLOAD_FORMAT_INDICATOR, 0)])
    first = one_message(t, receiver, "UTF-8 payload")
    t.check(first.prop(wire.PAYLOAD_FORMAT_INDICATOR) == 1, "indicator %r" %
            first.prop(wire.PAYLOAD_FORMAT_INDICATOR))
    t.check(first.prop(wire.CONTENT_TYPE) == "text/plain; charset=utf-8", "content type %r" %
            first.prop(wire.CONTENT_TYPE))
    second = one_message(t, receiver, "binary payload")
    t.check(second.prop(wire.PAYLOAD_FORMAT_INDICATOR, 0) == 0, "indicator %r" %
            second.prop(wire.PAYLOAD_FORMAT_INDICATOR))


@case("response topic must not contain wildcards", v5=("MQTT-3.3.2-14", "MQTT-4.13.1-1"),
      deviations={"mosquitto": "2.0.11 does not check the Response Topic for wildcards"})
def response_topic_wildcard(t):
    client = t.client()
    client.send(wire.publish(t.topic(), b"x", version=t.version,
                             properties=[(wire.RESPONSE_TOPIC, t.topic("#"))]))
    t.expect_error_close(client, what="a Response Topic containing '#'")


@case("expired messages are not delivered; the rest carry the remaining lifetime",
      v5=("MQTT-3.3.2-5", "MQTT-3.3.2-6"))
def message_expiry(t):
    client_id = t.client_id()
    topic = t.topic()
    session = {"clean": False, "properties": [(wire.SESSION_EXPIRY_INTERVAL, 60)]}
    receiver = watcher(t, topic, client_id=client_id, **session)
    receiver.disconnect()
    publisher = t.client()
    publisher.publish(topic, b"short", qos=1, properties=[(wire.MESSAGE_EXPIRY_INTERVAL, 1)])
    publisher.publish(topic, b"long", qos=1, properties=[(wire.MESSAGE_EXPIRY_INTERVAL, 100)])
    time.sleep(2.2)
    back = t.client(client_id, **session)
    got = back.messages(1.0)
    t.check([m.payload for m in got] == [b"long"], "after 2 s offline received %r" % got)
    remaining = got[0].prop(wire.MESSAGE_EXPIRY_INTERVAL)
    t.check(remaining is not None and remaining <= 98,
            "Message Expiry Interval forwarded as %r after 2 s of waiting" % remaining)


@case("retained message expires", v5="MQTT-3.3.2-5")
def retained_message_expiry(t):
    topic = t.topic()
    t.client().publish(topic, b"brief", qos=1, retain=True,
                       properties=[(wire.MESSAGE_EXPIRY_INTERVAL, 1)])
    time.sleep(2.2)
    late = t.client()
    late.subscribe([(topic, 1)])
    t.check(not late.messages(0.4), "expired retained message was delivered")


def topic_alias_maximum(t, client):
    maximum = client.connack.prop(wire.TOPIC_ALIAS_MAXIMUM, 0)
    if maximum == 0:
        t.skip("server accepts no topic aliases (Topic Alias Maximum 0)")
    return maximum


@case("server accepts topic aliases up to its Topic Alias Maximum", v5="MQTT-3.3.2-12")
def topic_alias_accepted(t):
    topic = t.topic()
    receiver = watcher(t, topic)
    publisher = t.client()
    maximum = topic_alias_maximum(t, publisher)
    publisher.publish(topic, b"set", qos=1, properties=[(wire.TOPIC_ALIAS, maximum)])
    publisher.publish("", b"use", qos=1, properties=[(wire.TOPIC_ALIAS, maximum)])
    got = receiver.messages(1.0, count=2)
    t.check([(m.topic, m.payload) for m in got] == [(topic, b"set"), (topic, b"use")],
            "subscriber got %r" % got)


@case("topic alias 0 is a protocol error", v5=("MQTT-3.3.2-8", "MQTT-4.13.1-1"))
def topic_alias_zero(t):
    client = t.client()
    client.send(wire.publish(t.topic(), b"x", version=t.version,
                             properties=[(wire.TOPIC_ALIAS, 0)]))
    t.expect_error_close(client, what="Topic Alias 0")


@case("topic alias above the maximum is a protocol error", v5=("MQTT-3.3.2-9", "MQTT-3.2.2-17"))
def topic_alias_too_large(t):
    client = t.client()
    maximum = client.connack.prop(wire.TOPIC_ALIAS_MAXIMUM, 0)
    client.send(wire.publish(t.topic(), b"x", version=t.version,
                             properties=[(wire.TOPIC_ALIAS, maximum + 1)]))
    seen = t.expect_error_close(client, what="Topic Alias %d (maximum %d)" % (maximum + 1,
                                                                               maximum))
    for got in seen:
        t.check(got.reason_code in (0x94, 0x82), "reason 0x%02x, want 0x94" % got.reason_code)


@case("topic alias mappings do not survive the connection", v5="MQTT-3.3.2-7")
def topic_alias_not_carried_over(t):
    topic = t.topic()
    receiver = watcher(t, topic)
    client_id = t.client_id()
    session = {"clean": False, "properties": [(wire.SESSION_EXPIRY_INTERVAL, 60)]}
    first = t.client(client_id, **session)
    topic_alias_maximum(t, first)
    first.publish(topic, b"mapped", qos=1, properties=[(wire.TOPIC_ALIAS, 1)])
    first.disconnect()
    second = t.client(client_id, **session)
    second.send(wire.publish("", b"stale alias", qos=1, packet_id=1, version=t.version,
                             properties=[(wire.TOPIC_ALIAS, 1)]))
    t.expect_error_close(second, what="an alias mapped on an earlier connection")
    got = [m.payload for m in receiver.messages(0.5)]
    t.check(got == [b"mapped"], "subscriber got %r" % got)


@case("server sends no topic alias to a client that allows none", v5="MQTT-3.1.2-27")
def no_topic_alias_to_client(t):
    topic = t.topic()
    receiver = watcher(t, topic)
    publisher = t.client()
    for index in range(4):
        publisher.publish(topic, b"%d" % index, qos=1)
    got = receiver.messages(1.0, count=4)
    t.check(len(got) == 4, "received %r" % got)
    t.check(all(m.prop(wire.TOPIC_ALIAS) is None and m.topic == topic for m in got),
            "server used topic aliases: %r" % got)


@case("server respects the client's Receive Maximum",
      v5=("MQTT-3.3.4-9", "MQTT-3.3.4-10", "MQTT-4.9.0-2", "MQTT-4.9.0-3"),
      deviations={"mosquitto": "2.0.11 sends two new messages per PUBACK once the quota is used"})
def receive_maximum_respected(t):
    topic = t.topic()
    receiver = watcher(t, topic, properties=[(wire.RECEIVE_MAXIMUM, 2)])
    publisher = t.client()
    for index in range(5):
        publisher.publish(topic, b"%d" % index, qos=1)
    first = receiver.messages(0.8, acknowledge=False)
    t.check(len(first) == 2, "with Receive Maximum 2 and no PUBACK, received %d: %r" %
            (len(first), first))
    receiver.send(wire.pingreq())
    receiver.expect(wire.PINGRESP, what="while the send quota is zero")
    suback = receiver.subscribe([t.topic("other")])
    t.check(suback.reason_codes == [0], "SUBACK while the send quota is zero: %r" % suback)
    receiver.acknowledge(first[0])
    more = receiver.messages(0.8, acknowledge=False)
    t.check(len(more) == 1, "one PUBACK freed %d slots: %r" % (len(more), more))
    for message in first[1:] + more:
        receiver.acknowledge(message)
    rest = receiver.messages(1.0, count=2)
    payloads = [m.payload for m in first + more + rest]
    t.check(payloads == [b"0", b"1", b"2", b"3", b"4"], "delivered %r" % payloads)


@case("exceeding the server's Receive Maximum is a protocol error",
      v5=("MQTT-3.3.4-7", "MQTT-4.13.1-1"),
      deviations={"mosquitto": "2.0.11 answers the excess PUBLISH with PUBREC 0x97 and stays"})
def receive_maximum_exceeded(t):
    client = t.client()
    maximum = client.connack.prop(wire.RECEIVE_MAXIMUM, 65535)
    topic = t.topic()
    # Exactly Receive Maximum unreleased QoS 2 messages are fine and each gets its PUBREC ...
    client.send(b"".join(wire.publish(topic, b"q2", qos=2, packet_id=index + 1,
                                      version=t.version) for index in range(maximum)))
    for index in range(maximum):
        pubrec = client.expect(wire.PUBREC, what="%d of %d within Receive Maximum" %
                               (index + 1, maximum))
        t.check(pubrec.reason_code < 0x80, "PUBREC %r within Receive Maximum" % pubrec)
    # ... and one more is a protocol error: DISCONNECT 0x93, then close.
    client.send(wire.publish(topic, b"q2", qos=2, packet_id=maximum + 1, version=t.version))
    seen = t.expect_error_close(client, what="PUBLISH number %d with Receive Maximum %d" %
                                (maximum + 1, maximum))
    for got in seen:
        t.check(got.reason_code == 0x93, "DISCONNECT 0x%02x, want 0x93" % got.reason_code)
    t.note("Receive Maximum %d" % maximum)


@case("server does not send packets over the client's Maximum Packet Size",
      v5=("MQTT-3.1.2-24", "MQTT-3.1.2-25"))
def maximum_packet_size_respected(t):
    topic = t.topic()
    receiver = watcher(t, topic, properties=[(wire.MAXIMUM_PACKET_SIZE, 128)])
    publisher = t.client()
    publisher.publish(topic, b"x" * 200, qos=1)
    publisher.publish(topic, b"small", qos=1)
    got = receiver.messages(1.0)
    t.check([m.payload for m in got] == [b"small"], "receiver with limit 128 got %r" % got)
    t.check(all(len(m.raw) <= 128 for m in got), "packet over 128 bytes sent")


@case("a packet over the server's Maximum Packet Size is refused", v5=("MQTT-3.2.2-15",
                                                                      "MQTT-4.13.1-1"))
def packet_too_large(t):
    client = t.client()
    maximum = client.connack.prop(wire.MAXIMUM_PACKET_SIZE)
    if maximum is None or maximum > 16 * 1024 * 1024:
        t.skip("server announces no Maximum Packet Size of 16 MiB or less")
    topic = t.topic()
    overhead = len(wire.publish(topic, b"", version=t.version)) + 4
    client.send(wire.publish(topic, b"z" * (maximum - overhead + 8), version=t.version))
    seen = t.expect_error_close(client, what="a packet over Maximum Packet Size %d" % maximum,
                                timeout=5.0)
    for got in seen:
        t.check(got.reason_code == 0x95, "DISCONNECT 0x%02x, want 0x95" % got.reason_code)


@case("subscription identifiers are sent with matching messages",
      v5=("MQTT-3.3.4-3", "MQTT-3.3.4-4"))
def subscription_identifiers(t):
    base = t.topic()
    client = t.client()
    if client.connack.prop(wire.SUBSCRIPTION_IDENTIFIER_AVAILABLE, 1) == 0:
        t.skip("server does not support subscription identifiers")
    client.subscribe([(base + "/+", 1)], properties=[(wire.SUBSCRIPTION_IDENTIFIER, 7)])
    client.subscribe([(base + "/#", 1)], properties=[(wire.SUBSCRIPTION_IDENTIFIER, 300000)])
    client.subscribe([(base + "/x/#", 1)])
    t.client().publish(base + "/x", b"m", qos=1)
    got = client.messages(0.8)
    identifiers = sorted(i for m in got for i in m.props(wire.SUBSCRIPTION_IDENTIFIER))
    t.check(identifiers == [7, 300000], "subscription identifiers delivered: %r" % got)
    t.choice("%d PUBLISH packet(s) for three overlapping subscriptions" % len(got))


@case("client PUBLISH must not carry a Subscription Identifier",
      v5=("MQTT-3.3.4-6", "MQTT-4.13.1-1"),
      deviations={"mosquitto": "2.0.11 accepts a Subscription Identifier in PUBLISH"})
def publish_with_subscription_identifier(t):
    client = t.client()
    client.send(wire.publish(t.topic(), b"x", version=t.version,
                             properties=[(wire.SUBSCRIPTION_IDENTIFIER, 5)]))
    t.expect_error_close(client, what="a PUBLISH carrying a Subscription Identifier")


@case("No Local: own messages are not delivered back", v5="MQTT-3.8.3-3")
def no_local(t):
    topic = t.topic()
    client = t.client()
    client.subscribe([(topic, wire.subscription_options(1, no_local=True))])
    client.publish(topic, b"own", qos=1)
    t.client().publish(topic, b"other", qos=1)
    got = [m.payload for m in client.messages(0.6)]
    t.check(got == [b"other"], "No Local subscriber got %r" % got)


@case("Retain As Published controls the RETAIN flag of live deliveries",
      v5=("MQTT-3.3.1-12", "MQTT-3.3.1-13"))
def retain_as_published(t):
    topic = t.topic()
    keep = t.client()
    keep.subscribe([(topic, wire.subscription_options(1, retain_as_published=True))])
    clear = t.client()
    clear.subscribe([(topic, wire.subscription_options(1))])
    publisher = t.client()
    publisher.publish(topic, b"r", qos=1, retain=True)
    publisher.publish(topic, b"n", qos=1)
    kept = [(m.payload, m.retain) for m in keep.messages(0.8, count=2)]
    cleared = [(m.payload, m.retain) for m in clear.messages(0.8, count=2)]
    t.check(kept == [(b"r", 1), (b"n", 0)], "Retain As Published 1 got %r" % kept)
    t.check(cleared == [(b"r", 0), (b"n", 0)], "Retain As Published 0 got %r" % cleared)
    publisher.publish(topic, b"", retain=True)


@case("Retain Handling 0, 1 and 2", v5=("MQTT-3.3.1-9", "MQTT-3.3.1-10", "MQTT-3.3.1-11"))
def retain_handling(t):
    topic = t.topic()
    t.client().publish(topic, b"kept", qos=1, retain=True)
    expectations = {0: (1, 1), 1: (1, 0), 2: (0, 0)}
    for handling, (first_count, second_count) in expectations.items():
        client = t.client()
        options = wire.subscription_options(1, retain_handling=handling)
        client.subscribe([(topic, options)])
        first = client.messages(0.4)
        client.subscribe([(topic, options)])
        second = client.messages(0.4)
        t.check(len(first) == first_count and len(second) == second_count,
                "Retain Handling %d: %d then %d retained copies, want %d then %d"
                % (handling, len(first), len(second), first_count, second_count))
    t.client().publish(topic, b"", retain=True)


def shared_available(t, client):
    if client.connack.prop(wire.SHARED_SUBSCRIPTION_AVAILABLE, 1) == 0:
        t.skip("server does not support shared subscriptions")


@case("shared subscription: each message goes to one member at its granted QoS",
      v5=("MQTT-4.8.2-1", "MQTT-4.8.2-2", "MQTT-4.8.2-3"))
def shared_subscription(t):
    topic = t.topic()
    group = "$share/%s/%s" % (t.client_id("g"), topic)
    members = []
    for qos in (0, 1):
        member = t.client()
        shared_available(t, member)
        suback = member.subscribe([(group, qos)])
        t.check(suback.reason_codes == [qos], "SUBACK %r for %r" % (suback, group))
        members.append(member)
    publisher = t.client()
    for index in range(10):
        publisher.publish(topic, b"%d" % index, qos=1)
    received = [member.messages(1.0) for member in members]
    payloads = sorted(m.payload for batch in received for m in batch)
    t.check(payloads == sorted(b"%d" % index for index in range(10)),
            "group received %r (each message exactly once expected)" % payloads)
    t.check(all(m.qos == 0 for m in received[0]), "QoS 0 member got QoS 1 deliveries")
    t.check(all(m.qos == 1 for m in received[1]), "QoS 1 member got other QoS")
    t.note("split %d/%d" % (len(received[0]), len(received[1])))


@case("No Local on a shared subscription is a protocol error", v5="MQTT-3.8.3-4",
      deviations={"mosquitto": "2.0.11 grants No Local on a shared subscription"})
def shared_subscription_no_local(t):
    client = t.client()
    shared_available(t, client)
    group = "$share/%s/%s" % (t.client_id("g"), t.topic())
    client.send(wire.subscribe(1, [(group, wire.subscription_options(0, no_local=True))],
                               t.version))
    got = client.recv(2.0)
    if got is not None and got.type == wire.SUBACK:
        t.check(got.reason_codes[0] >= 0x80, "No Local shared subscription granted: %r" % got)
        t.choice("SUBACK 0x%02x" % got.reason_codes[0])
        return
    t.check(got is None or got.type == wire.DISCONNECT, "answered with %r" % got)
    t.expect_error_close(client, what="No Local on a shared subscription")


@case("shared subscription filters need a share name and a topic filter",
      v5=("MQTT-4.8.2-1", "MQTT-4.8.2-2"),
      deviations={"mosquitto": "2.0.11 grants '$share//t' and '$share/g' as ordinary filters"})
def shared_subscription_invalid(t):
    for bad in ("$share//" + t.topic(), "$share/" + t.client_id("g"), "$share/a+b/" + t.topic()):
        client = t.client()
        shared_available(t, client)
        client.send(wire.subscribe(1, [(bad, 0)], t.version))
        got = client.recv(2.0)
        if got is not None and got.type == wire.SUBACK:
            t.check(got.reason_codes[0] >= 0x80, "invalid %r granted: %r" % (bad, got))
            t.choice("SUBACK 0x%02x" % got.reason_codes[0])
            continue
        t.check(got is None or got.type == wire.DISCONNECT, "%r answered with %r" % (bad, got))
        t.expect_error_close(client, what="shared filter %r" % bad)
        t.choice("closes the connection")


@case("session ends when its Session Expiry Interval passes",
      v5=("MQTT-4.1.0-2", "MQTT-3.1.2-23", "MQTT-3.2.2-3"))
def session_expiry(t):
    client_id = t.client_id()
    short = {"clean": False, "properties": [(wire.SESSION_EXPIRY_INTERVAL, 1)]}
    first = t.client(client_id, **short)
    first.subscribe([t.topic()])
    first.disconnect()
    kept = t.client(client_id, **short)
    t.check(kept.connack.session_present == 1, "session gone immediately after disconnect")
    kept.disconnect()
    time.sleep(2.3)
    expired = t.client(client_id, **short)
    t.check(expired.connack.session_present == 0, "session outlived its 1 s expiry")
    expired.disconnect()
    none = t.client(client_id, clean=False)
    none.disconnect()
    after = t.client(client_id, clean=False)
    t.check(after.connack.session_present == 0,
            "Session Expiry Interval 0 (absent) kept the session after the connection closed")


@case("DISCONNECT may extend the Session Expiry Interval", v5="MQTT-3.1.2-23")
def disconnect_sets_session_expiry(t):
    client_id = t.client_id()
    first = t.client(client_id, clean=True, properties=[(wire.SESSION_EXPIRY_INTERVAL, 1)])
    first.disconnect(properties=[(wire.SESSION_EXPIRY_INTERVAL, 60)])
    time.sleep(1.5)
    back = t.client(client_id, clean=False)
    t.check(back.connack.session_present == 1, "session expiry from DISCONNECT ignored")


@case("connecting with an unknown Authentication Method is refused", v5="MQTT-4.12.0-1")
def unknown_authentication_method(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=t.version,
                            properties=[(wire.AUTHENTICATION_METHOD, "X-PERCH-UNKNOWN")]))
    closed, seen = rogue.wait_closed(3.0)
    t.check(closed, "server kept a connection with an unsupported authentication method")
    for got in seen:
        t.check(got.type == wire.CONNACK and got.reason_code in (0x8C, 0x87),
                "answered %r, want CONNACK 0x8C or 0x87" % got)
        t.choice("CONNACK 0x%02x" % got.reason_code)


@case("CONNACK without authentication: no AUTH, no Authentication Method, valid reason",
      v5=("MQTT-4.12.0-6", "MQTT-3.2.2-8", "MQTT-3.1.2-28"))
def connack_without_authentication(t):
    client = t.client(properties=[(wire.REQUEST_RESPONSE_INFORMATION, 0)])
    connack = client.connack
    t.check(connack.reason_code in CONNACK_CODES, "CONNACK reason 0x%02x" % connack.reason_code)
    t.check(connack.prop(wire.AUTHENTICATION_METHOD) is None, "CONNACK names an auth method")
    t.check(connack.prop(wire.RESPONSE_INFORMATION) is None,
            "Response Information sent although not requested")
    client.send(wire.pingreq())
    client.expect(wire.PINGRESP)


@case("Request Problem Information 0: no reason string or user properties on acks",
      v5="MQTT-3.1.2-29")
def request_problem_information(t):
    client = t.client(properties=[(wire.REQUEST_PROBLEM_INFORMATION, 0)])
    base = t.topic()
    replies = [
        client.subscribe([(base + "/a", 1), (base + "/b/#", 2)]),
        client.unsubscribe([base + "/a", base + "/nothing"]),
        client.publish(base + "/none", b"x", qos=1),
        client.publish(base + "/none", b"x", qos=2),
    ]
    replies.append(client.last_pubrec)
    for reply in replies:
        for property_id in PROBLEM_PROPERTIES:
            t.check(reply.prop(property_id) is None,
                    "%s carries property 0x%02x" % (reply.name, property_id))


@case("PUBREL for an unknown packet id is answered with PUBCOMP 0x92", v5="MQTT-3.7.2-1")
def pubrel_unknown_packet_id(t):
    client = t.client()
    client.send(wire.ack(wire.PUBREL, 999, t.version))
    pubcomp = client.expect(wire.PUBCOMP)
    t.check(pubcomp.packet_id == 999, "PUBCOMP id %d" % pubcomp.packet_id)
    t.check(pubcomp.reason_code in (0x00, 0x92), "PUBCOMP reason 0x%02x" % pubcomp.reason_code)
    t.choice("PUBCOMP reason 0x%02x" % pubcomp.reason_code)


@case("server DISCONNECT comes only after a successful CONNACK", v5="MQTT-3.14.0-1")
def no_disconnect_before_connack(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=t.version,
                            properties=[(wire.RECEIVE_MAXIMUM, 0)]))
    closed, seen = rogue.wait_closed(3.0)
    t.check(closed, "server accepted Receive Maximum 0")
    t.check(all(got.type == wire.CONNACK and got.reason_code >= 0x80 for got in seen),
            "server answered a CONNECT with Receive Maximum 0 with %r" % seen)


@case("a DISCONNECT with reason 0x80 or more is followed by the close", v5="MQTT-4.13.2-1")
def disconnect_then_close(t):
    client = t.client()
    client.send(wire.subscribe(1, [(t.topic(), 3)], t.version))
    seen = t.expect_error_close(client, what="requested QoS 3")
    t.check(len(seen) <= 1, "more than one packet before close: %r" % seen)
