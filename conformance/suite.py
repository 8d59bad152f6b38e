# The conformance test registry and the per-test context: how a test names its normative
# statements, opens connections, and reports pass, fail, skip or an implementation choice.
"""Registry and context for conformance tests.

A test is a function ``fn(t)`` registered with ``@case(title, v4=ids, v5=ids)``: it runs once for
each protocol version that has statement ids, with ``t.version`` set accordingly. Ids are written
without brackets (``"MQTT-3.1.0-1"``); the version they belong to is the one the test runs at.
"""

import itertools
import os
import random
import string

import mqtt_wire as wire
from connection import Connection, ProtocolFailure

VERSION_LABELS = {wire.MQTT_311: "3.1.1", wire.MQTT_50: "5.0"}

REGISTRY = []


class Skipped(Exception):
    """The test cannot run against this broker (a feature it does not offer)."""


class Registered:
    """One runnable (function, protocol version) pair and the statements it checks."""

    def __init__(self, function, title, version, statement_ids, deviations):
        self.function = function
        self.deviations = deviations
        self.title = title
        self.version = version
        self.statement_ids = statement_ids
        module = function.__module__
        self.chapter = module[5:] if module.startswith("test_") else module
        self.name = "%s.%s[%s]" % (self.chapter, function.__name__, VERSION_LABELS[version])

    def matches(self, text):
        haystack = " ".join([self.name, self.title] + list(self.statement_ids)).lower()
        return text.lower() in haystack


def case(title, v4=None, v5=None, deviations=None):
    """Registers a test for MQTT 3.1.1 (``v4`` ids) and/or 5.0 (``v5`` ids).

    ``deviations`` maps a broker kind (``"mosquitto"``, or ``"mosquitto/3.1.1"`` for one version)
    to the reason it is known to break the statement: a failure there is reported as XFAIL
    (recorded, not hidden, and not failing the run) and a pass as XPASS.
    """

    def register(function):
        for version, ids in ((wire.MQTT_311, v4), (wire.MQTT_50, v5)):
            if ids:
                ids = (ids,) if isinstance(ids, str) else tuple(ids)
                REGISTRY.append(Registered(function, title, version, ids, deviations or {}))
        return function

    return register


_RUN_TAG = "".join(random.choice(string.ascii_lowercase) for _ in range(4))
_counter = itertools.count(1)


class Context:
    """What a running test sees: the broker, its protocol version, and helpers to talk to it."""

    def __init__(self, broker, version):
        self.broker = broker
        self.version = version
        self.notes = []
        self.connections = []
        self.serial = next(_counter)

    @property
    def port(self):
        return self.broker.port

    @property
    def broker_kind(self):
        return self.broker.kind

    @property
    def v5(self):
        return self.version == wire.MQTT_50

    # -- names ----------------------------------------------------------------------------------

    def client_id(self, label=""):
        """A fresh client identifier of 1-23 letters and digits ([MQTT-3.1.3-5] safe)."""
        base = "cf%s%d%s" % (_RUN_TAG, self.serial, label)
        return (base + "".join(random.choice(string.ascii_lowercase) for _ in range(4)))[:23]

    def topic(self, label="t"):
        """A topic no other test uses."""
        return "conf/%s/%d/%s" % (_RUN_TAG, self.serial, label)

    # -- connections ----------------------------------------------------------------------------

    def raw(self, version=None):
        """An open TCP connection with nothing sent yet."""
        connection = Connection(self.port, version or self.version)
        self.connections.append(connection)
        return connection

    def client(self, client_id=None, version=None, expect_success=True, **connect_options):
        """A connected client. ``connect_options`` go to mqtt_wire.connect (clean, will, ...).
        The CONNACK is kept as ``.connack``; a refusal fails the test unless not expected."""
        connection = self.raw(version)
        connection.client_id = client_id if client_id is not None else self.client_id()
        connection.connack = connection.connect(connection.client_id, **connect_options)
        if expect_success and connection.connack.reason_code != 0:
            raise ProtocolFailure(
                "CONNECT refused: %r (client id %r)" % (connection.connack, connection.client_id)
            )
        return connection

    def close_all(self):
        for connection in self.connections:
            connection.close()

    # -- outcomes -------------------------------------------------------------------------------

    def note(self, text):
        """Adds a remark to the report line (what the broker did, when it matters)."""
        self.notes.append(text)

    def choice(self, text):
        """Records which of the behaviours the specification allows this broker chose."""
        self.notes.append("implementation choice: " + text)

    def check(self, condition, message):
        if not condition:
            raise ProtocolFailure(message)

    def fail(self, message):
        raise ProtocolFailure(message)

    def skip(self, message):
        raise Skipped(message)

    def expect_closed(self, connection, timeout=3.0, allow=(), what="the violation"):
        """The server must close ``connection`` within ``timeout``. Before closing it may send
        only packets whose types are in ``allow`` (a DISCONNECT or refusing CONNACK, say).
        Returns the packets it sent."""
        closed, seen = connection.wait_closed(timeout)
        unexpected = [got for got in seen if got.type not in allow]
        if unexpected:
            self.fail("after %s the server sent %r" % (what, unexpected))
        if not closed:
            self.fail("the server kept the connection open after %s" % what)
        return seen

    def expect_error_close(self, connection, what="the violation", timeout=3.0):
        """Close after a malformed packet or protocol error: in 5.0 an optional DISCONNECT with a
        reason code of 0x80 or more ([MQTT-4.13.1-1], [MQTT-4.13.2-1]); in 3.1.1 nothing at all
        ([MQTT-4.8.0-1])."""
        allow = (wire.DISCONNECT,) if self.v5 else ()
        seen = self.expect_closed(connection, timeout, allow, what)
        for got in seen:
            self.check(
                got.reason_code >= 0x80,
                "DISCONNECT for %s carries reason 0x%02x, below 0x80" % (what, got.reason_code),
            )
            self.check(
                got.prop(wire.SESSION_EXPIRY_INTERVAL) is None,
                "server DISCONNECT carries a Session Expiry Interval [MQTT-3.14.2-2]",
            )
            self.note("DISCONNECT reason 0x%02x" % got.reason_code)
        return seen


def load_test_modules(directory):
    """Imports every test_*.py beside this file, which fills REGISTRY."""
    names = sorted(
        entry[:-3]
        for entry in os.listdir(directory)
        if entry.startswith("test_") and entry.endswith(".py")
    )
    for name in names:
        __import__(name)
    return REGISTRY
