# Conformance tests for CONNECT and CONNACK (MQTT 3.1.1 and 5.0, chapters 3.1 and 3.2), including
# client identifiers, will flags, keep alive and session takeover.
"""CONNECT / CONNACK conformance tests."""

import time

import mqtt_wire as wire
from suite import case


def refused_connect(t, connection, what):
    """The server must close after a CONNECT it cannot accept. 3.1.1 [MQTT-3.1.4-1] closes with no
    CONNACK; 5.0 [MQTT-3.1.4-1] may first send a CONNACK of 0x80 or more, never a DISCONNECT
    before a successful CONNACK [MQTT-3.14.0-1]."""
    allow = (wire.CONNACK,) if t.v5 else ()
    seen = t.expect_closed(connection, allow=allow, what=what)
    for got in seen:
        t.check(got.reason_code >= 0x80, "CONNACK 0x%02x accepted %s" % (got.reason_code, what))
        t.check(got.session_present == 0, "refusing CONNACK has Session Present 1")
        t.note("CONNACK 0x%02x before close" % got.reason_code)
    return seen


@case("first packet must be CONNECT", v4="MQTT-3.1.0-1", v5="MQTT-3.1.0-1")
def first_packet_must_be_connect(t):
    topic = t.topic()
    watcher = t.client()
    watcher.subscribe([topic])
    rogue = t.raw()
    rogue.send(wire.publish(topic, b"before connect", version=t.version))
    t.expect_closed(rogue, what="a PUBLISH sent before CONNECT")
    t.check(not watcher.messages(0.3), "a PUBLISH sent before CONNECT was delivered")


@case("first packet must be CONNECT (PINGREQ)", v4="MQTT-3.1.0-1", v5="MQTT-3.1.0-1")
def pingreq_before_connect_closes(t):
    rogue = t.raw()
    rogue.send(wire.pingreq())
    t.expect_closed(rogue, what="a PINGREQ sent before CONNECT")


@case(
    "second CONNECT is a protocol violation",
    v4=("MQTT-3.1.0-2", "MQTT-4.8.0-1"),
    v5=("MQTT-3.1.0-2", "MQTT-3.2.0-2"),
)
def second_connect_closes(t):
    client = t.client()
    client.send(wire.connect(client.client_id, version=t.version))
    # A second CONNACK would break [MQTT-3.2.0-2]; only a DISCONNECT (5.0) may precede the close.
    t.expect_error_close(client, what="a second CONNECT")


@case("wrong protocol name", v4="MQTT-3.1.2-1", v5="MQTT-3.1.2-1")
def wrong_protocol_name(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=t.version, protocol_name="MQTX"))
    closed, seen = rogue.wait_closed(3.0)
    t.check(closed, "server kept a connection whose protocol name is 'MQTX' open")
    for got in seen:
        t.check(
            got.type == wire.CONNACK and got.reason_code != 0,
            "server answered a CONNECT named 'MQTX' with %r" % got,
        )
        t.choice("sent CONNACK 0x%02x before closing" % got.reason_code)
    if not seen:
        t.choice("closed without CONNACK")


@case("unsupported protocol level is refused", v4=("MQTT-3.1.2-2", "MQTT-3.2.2-5"))
def unsupported_protocol_level_v4(t):
    rogue = t.raw()
    # A 3.1.1-shaped CONNECT with level 6, which no MQTT version uses.
    rogue.send(wire.connect(t.client_id(), version=6))
    connack = rogue.expect(wire.CONNACK, what="0x01 for protocol level 6")
    t.check(connack.reason_code == 0x01, "CONNACK rc 0x%02x, want 0x01" % connack.reason_code)
    t.check(connack.session_present == 0, "refusing CONNACK has Session Present 1 [MQTT-3.2.2-4]")
    t.expect_closed(rogue, what="CONNACK 0x01")


@case("unsupported protocol version is refused", v5="MQTT-3.1.2-2")
def unsupported_protocol_level_v5(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=6))
    closed, seen = rogue.wait_closed(3.0)
    t.check(closed, "server kept a protocol-level-6 connection open")
    for got in seen:
        t.check(got.type == wire.CONNACK, "server sent %r to protocol level 6" % got)
        t.check(got.reason_code in (0x01, 0x84), "CONNACK rc 0x%02x" % got.reason_code)
        t.choice("CONNACK 0x%02x then close" % got.reason_code)


@case("reserved CONNECT flag must be 0", v4=("MQTT-3.1.2-3", "MQTT-3.1.4-1"),
      v5=("MQTT-3.1.2-3", "MQTT-3.1.4-1"))
def reserved_connect_flag(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=t.version, flags_override=0x03))
    refused_connect(t, rogue, "a CONNECT with the reserved flag set")


@case("Will QoS must be 0 when Will Flag is 0", v4="MQTT-3.1.2-13", v5="MQTT-3.1.2-11")
def will_qos_without_will_flag(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=t.version, flags_override=0x02 | 0x08))
    refused_connect(t, rogue, "Will QoS 1 without Will Flag")


@case("Will Retain must be 0 when Will Flag is 0", v4="MQTT-3.1.2-15", v5="MQTT-3.1.2-13")
def will_retain_without_will_flag(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=t.version, flags_override=0x02 | 0x20))
    refused_connect(t, rogue, "Will Retain without Will Flag")


@case("Will QoS 3 is refused", v4="MQTT-3.1.2-14", v5="MQTT-3.1.2-12")
def will_qos_three(t):
    rogue = t.raw()
    will = {"topic": t.topic("will"), "payload": b"x", "qos": 3}
    rogue.send(wire.connect(t.client_id(), version=t.version, will=will))
    refused_connect(t, rogue, "Will QoS 3")


@case("password without user name is refused in 3.1.1", v4="MQTT-3.1.2-22")
def password_without_username(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), password=b"secret"))
    refused_connect(t, rogue, "Password Flag without User Name Flag")


@case("user name flag requires a user name", v4="MQTT-3.1.2-19", v5="MQTT-3.1.2-17")
def username_flag_without_username(t):
    rogue = t.raw()
    # Connect flags say "user name present" but the payload ends after the client id.
    rogue.send(wire.connect(t.client_id(), version=t.version, flags_override=0x82))
    refused_connect(t, rogue, "a CONNECT missing its User Name")


@case("will flag requires will topic and payload", v4="MQTT-3.1.2-9", v5="MQTT-3.1.2-9")
def will_flag_without_will_fields(t):
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=t.version, flags_override=0x06))
    refused_connect(t, rogue, "a CONNECT with Will Flag but no will fields")


@case(
    "client ids of 1-23 letters and digits are accepted",
    v4=("MQTT-3.1.3-5", "MQTT-3.1.4-4"),
    v5=("MQTT-3.1.3-5", "MQTT-3.1.4-5"),
)
def short_alphanumeric_client_ids(t):
    for client_id in ("a", "Z9", "0123456789abcdefghijKLM"):
        unique = (client_id + t.client_id())[:23] if len(client_id) < 23 else client_id
        client = t.client(unique)
        t.check(client.connack.reason_code == 0, "client id %r refused" % unique)
        client.disconnect()


@case("zero-length client id with clean session", v4="MQTT-3.1.3-6")
def zero_length_client_id_v4(t):
    first = t.client("", expect_success=False)
    code = first.connack.reason_code
    if code == 0x02:
        t.choice("refuses zero-length client ids (0x02)")
        t.expect_closed(first, what="CONNACK 0x02")
        return
    t.check(code == 0, "CONNACK rc 0x%02x, want 0x00 or 0x02" % code)
    t.choice("accepts zero-length client ids and assigns one")
    # Two such clients must get distinct identities: both stay connected.
    second = t.client("")
    first.send(wire.pingreq())
    first.expect(wire.PINGRESP, what="(first anonymous client must not be taken over)")
    second.send(wire.pingreq())
    second.expect(wire.PINGRESP)


@case("zero-length client id needs clean session 1", v4=("MQTT-3.1.3-8", "MQTT-3.2.2-4"))
def zero_length_client_id_persistent_v4(t):
    rogue = t.raw()
    connack = rogue.connect("", clean=False)
    t.check(connack.reason_code == 0x02, "CONNACK rc 0x%02x, want 0x02" % connack.reason_code)
    t.check(connack.session_present == 0, "refusing CONNACK has Session Present 1")
    t.expect_closed(rogue, what="CONNACK 0x02")


@case(
    "zero-length client id gets a unique Assigned Client Identifier",
    v5=("MQTT-3.1.3-6", "MQTT-3.1.3-7", "MQTT-3.2.2-16"),
)
def assigned_client_identifier(t):
    first = t.client("", expect_success=False)
    if first.connack.reason_code == 0x85:
        t.choice("refuses zero-length client ids (0x85)")
        t.expect_closed(first, what="CONNACK 0x85")
        return
    t.check(first.connack.reason_code == 0, "CONNACK %r" % first.connack)
    assigned = first.connack.prop(wire.ASSIGNED_CLIENT_IDENTIFIER)
    t.check(assigned, "CONNACK lacks an Assigned Client Identifier")
    second = t.client("")
    other = second.connack.prop(wire.ASSIGNED_CLIENT_IDENTIFIER)
    t.check(other and other != assigned, "two clients were assigned %r and %r" % (assigned, other))


@case("client id must be well-formed UTF-8", v4="MQTT-1.5.3-1", v5="MQTT-1.5.4-1")
def client_id_ill_formed_utf8(t):
    rogue = t.raw()
    rogue.send(wire.connect(b"bad\xed\xa0\x80id", version=t.version))  # a UTF-16 surrogate
    refused_connect(t, rogue, "a client id with an encoded surrogate")


@case("CONNACK is the first packet from the server", v4="MQTT-3.2.0-1", v5="MQTT-3.2.0-1")
def connack_comes_first(t):
    client = t.raw()
    topic = t.topic()
    # CONNECT, SUBSCRIBE and PINGREQ in one write: the answers must start with CONNACK.
    client.send(
        wire.connect(t.client_id(), version=t.version)
        + wire.subscribe(1, [(topic, 0)], t.version)
        + wire.pingreq()
    )
    first = client.recv()
    t.check(first is not None and first.type == wire.CONNACK, "first packet was %r" % first)
    # The specification does not order SUBACK against PINGRESP; both must come.
    answers = sorted(got.name for got in [client.recv(), client.recv()] if got is not None)
    t.check(answers == ["PINGRESP", "SUBACK"], "after CONNACK got %r" % answers)


@case("CONNACK flags: reserved bits are 0", v5="MQTT-3.2.2-1")
def connack_reserved_bits(t):
    client = t.client()
    t.check(client.connack.connack_flags & 0xFE == 0, "CONNACK flags 0x%02x" %
            client.connack.connack_flags)


@case(
    "Session Present reflects stored session state",
    v4=("MQTT-3.2.2-1", "MQTT-3.2.2-2", "MQTT-3.2.2-3", "MQTT-3.1.2-4"),
    v5=("MQTT-3.2.2-2", "MQTT-3.2.2-3", "MQTT-3.1.2-5", "MQTT-3.1.2-6"),
)
def session_present_flag(t):
    client_id = t.client_id()
    persistent = {"clean": False}
    if t.v5:
        persistent["properties"] = [(wire.SESSION_EXPIRY_INTERVAL, 60)]
    fresh = t.client(client_id, clean=True)
    t.check(fresh.connack.session_present == 0, "clean start answered with Session Present 1")
    fresh.disconnect()
    first = t.client(client_id, **persistent)
    t.check(first.connack.session_present == 0, "no session existed, Session Present is 1")
    first.subscribe([t.topic()])
    first.disconnect()
    again = t.client(client_id, **persistent)
    t.check(again.connack.session_present == 1, "stored session not reported (Session Present 0)")
    again.disconnect()
    cleaned = t.client(client_id, clean=True)
    t.check(cleaned.connack.session_present == 0, "clean start answered with Session Present 1")
    cleaned.disconnect()


@case(
    "clean session discards the previous session",
    v4=("MQTT-3.1.2-6", "MQTT-3.1.4-3"),
    v5=("MQTT-3.1.2-4", "MQTT-3.1.4-4"),
)
def clean_session_discards_state(t):
    client_id = t.client_id()
    topic = t.topic()
    persistent = {"clean": False}
    if t.v5:
        persistent["properties"] = [(wire.SESSION_EXPIRY_INTERVAL, 60)]
    first = t.client(client_id, **persistent)
    first.subscribe([(topic, 1)])
    first.disconnect()
    t.client(client_id, clean=True).disconnect()
    resumed = t.client(client_id, **persistent)
    t.check(resumed.connack.session_present == 0, "session survived a clean start")
    publisher = t.client()
    publisher.publish(topic, b"after clean", qos=1)
    t.check(not resumed.messages(0.4), "subscription survived a clean start")


@case(
    "persistent session receives QoS 1 messages queued while offline",
    v4=("MQTT-3.1.2-4", "MQTT-3.1.2-5", "MQTT-4.5.0-1"),
    v5=("MQTT-3.1.2-5", "MQTT-3.1.2-23", "MQTT-4.5.0-1"),
)
def offline_messages_delivered(t):
    client_id = t.client_id()
    topic = t.topic()
    persistent = {"clean": False}
    if t.v5:
        persistent["properties"] = [(wire.SESSION_EXPIRY_INTERVAL, 60)]
    subscriber = t.client(client_id, **persistent)
    subscriber.subscribe([(topic, 1)])
    subscriber.disconnect()
    publisher = t.client()
    for index in range(3):
        publisher.publish(topic, b"queued %d" % index, qos=1)
    back = t.client(client_id, **persistent)
    t.check(back.connack.session_present == 1, "session not present on reconnect")
    got = back.messages(2.0, count=3)
    t.check(
        [message.payload for message in got] == [b"queued 0", b"queued 1", b"queued 2"],
        "after reconnect received %r" % got,
    )
    t.check(all(message.qos == 1 for message in got), "queued messages lost their QoS 1")


@case(
    "a new connection with the same client id takes over",
    v4=("MQTT-3.1.4-2", "MQTT-3.1.2-4"),
    v5=("MQTT-3.1.4-3", "MQTT-3.1.2-5"),
)
def session_takeover(t):
    client_id = t.client_id()
    topic = t.topic()
    persistent = {"clean": False}
    if t.v5:
        persistent["properties"] = [(wire.SESSION_EXPIRY_INTERVAL, 60)]
    first = t.client(client_id, **persistent)
    first.subscribe([(topic, 1)])
    second = t.client(client_id, **persistent)
    t.check(second.connack.session_present == 1, "taken-over session not present")
    allow = (wire.DISCONNECT,) if t.v5 else ()
    seen = t.expect_closed(first, allow=allow, what="a takeover")
    for got in seen:
        t.check(got.reason_code == 0x8E, "takeover DISCONNECT reason 0x%02x, want 0x8E" %
                got.reason_code)
        t.note("sent DISCONNECT 0x8E to the old connection")
    publisher = t.client()
    publisher.publish(topic, b"to the new connection", qos=1)
    got = second.messages(1.0, count=1)
    t.check(len(got) == 1, "new connection did not inherit the subscription: %r" % got)


@case(
    "keep alive: silent client is disconnected after 1.5 x keep alive",
    v4="MQTT-3.1.2-24",
    v5=("MQTT-3.1.2-22", "MQTT-3.2.2-22"),
    deviations={"mosquitto": "2.0.11 checks keep alive periodically and may close 5-12 s late"},
)
def keep_alive_timeout(t):
    client = t.client(keep_alive=1)
    keep_alive = 1
    if t.v5 and client.connack.prop(wire.SERVER_KEEP_ALIVE) is not None:
        keep_alive = client.connack.prop(wire.SERVER_KEEP_ALIVE)
        t.note("Server Keep Alive %d" % keep_alive)
        if keep_alive == 0 or keep_alive > 3:
            t.skip("server replaced keep alive with %d s" % keep_alive)
    started = time.monotonic()
    allow = (wire.DISCONNECT,) if t.v5 else ()
    # One second of slack above 1.5 x keep alive for scheduling and loopback latency.
    t.expect_closed(client, timeout=keep_alive * 1.5 + 1.0, allow=allow, what="keep alive expiry")
    elapsed = time.monotonic() - started
    t.note("closed after %.2f s" % elapsed)
    t.check(elapsed >= keep_alive * 0.95, "closed after only %.2f s" % elapsed)


@case(
    "keep alive: PINGREQ keeps the connection open",
    v4=("MQTT-3.1.2-24", "MQTT-3.12.4-1"),
    v5=("MQTT-3.1.2-22", "MQTT-3.12.4-1"),
)
def keep_alive_with_pings(t):
    client = t.client(keep_alive=1)
    for _ in range(5):
        time.sleep(0.5)
        client.send(wire.pingreq())
        client.expect(wire.PINGRESP)


@case(
    "data after a refused CONNECT is not processed",
    v4=("MQTT-3.1.4-5", "MQTT-3.1.4-1"),
    v5=("MQTT-3.1.4-6", "MQTT-3.1.4-1"),
)
def no_processing_after_refused_connect(t):
    topic = t.topic()
    rogue = t.raw()
    # A CONNECT with the reserved flag set, followed at once by a retained PUBLISH.
    rogue.send(
        wire.connect(t.client_id(), version=t.version, flags_override=0x03)
        + wire.publish(topic, b"must not be kept", retain=True, version=t.version)
    )
    rogue.wait_closed(3.0)
    checker = t.client()
    checker.subscribe([topic])
    t.check(not checker.messages(0.4), "a PUBLISH sent after a refused CONNECT was processed")
