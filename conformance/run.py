#!/usr/bin/python3
# Runs the conformance suite against one broker and reports each test with its statement ids.
# Usage: run.py --broker perch|mosquitto [--perch PATH] [-k FILTER] [--report FILE.md]
"""Conformance runner: starts the broker, runs every registered test, prints PASS/FAIL/SKIP per
test and a final ``passed/total`` line, and exits non-zero if any test failed."""

import argparse
import json
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, HERE)

import mqtt_wire as wire  # noqa: E402
import suite  # noqa: E402
from broker import MOSQUITTO_PATH, Broker  # noqa: E402
from connection import ProtocolFailure  # noqa: E402

PER_TEST_SECONDS = 30
DEFAULT_PERCH = os.path.join(HERE, "..", "build", "gateway", "perch")


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded %d s" % PER_TEST_SECONDS)


def run_one(registered, broker):
    """Runs one test; returns ``(status, detail, notes, seconds)``."""
    context = suite.Context(broker, registered.version)
    started = time.monotonic()
    signal.alarm(PER_TEST_SECONDS)
    try:
        registered.function(context)
        status, detail = "PASS", ""
    except suite.Skipped as skipped:
        status, detail = "SKIP", str(skipped)
    except ProtocolFailure as failure:
        status, detail = "FAIL", str(failure)
    except wire.MalformedPacket as malformed:
        status, detail = "FAIL", "server sent a malformed packet: %s" % malformed
    except TestTimeout as timeout:
        status, detail = "FAIL", str(timeout)
    except Exception:  # a bug in the test itself is reported, never hidden
        status, detail = "FAIL", "test error: " + traceback.format_exc(limit=3).strip()
    finally:
        signal.alarm(0)
        context.close_all()
    notes = list(dict.fromkeys(context.notes))
    label = suite.VERSION_LABELS[registered.version]
    known = registered.deviations.get("%s/%s" % (broker.kind, label)) or registered.deviations.get(
        broker.kind
    )
    if known and status == "FAIL":
        status, detail = "XFAIL", "known deviation (%s): %s" % (known, detail)
    elif known and status == "PASS":
        status = "XPASS"
        notes.append("listed as a known deviation (%s) but passed" % known)
    if not broker.is_running():
        status = "FAIL"
        detail = ("broker exited during the test; " + detail).strip("; ")
        detail += "\n" + broker.log_tail(10)
        broker.restart()
    return status, detail, notes, time.monotonic() - started


def write_report(path, broker_kind, results, counts):
    lines = [
        "# Conformance results: %s" % broker_kind,
        "",
        "%d/%d passed, %d failed, %d known deviations (XFAIL), %d skipped."
        % (
            counts["PASS"] + counts["XPASS"],
            len(results),
            counts["FAIL"],
            counts["XFAIL"],
            counts["SKIP"],
        ),
        "",
        "| result | test | version | statements | notes |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        first_line = result["detail"].splitlines()[0] if result["detail"] else ""
        remark = "; ".join(filter(None, [first_line] + result["notes"]))
        lines.append(
            "| %s | %s | %s | %s | %s |"
            % (
                result["status"],
                result["name"],
                result["version"],
                " ".join("[%s]" % statement for statement in result["statements"]),
                remark.replace("|", "\\|"),
            )
        )
    with open(path, "w", encoding="utf-8") as report:
        report.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", choices=("perch", "mosquitto"), required=True)
    parser.add_argument("--perch", default=DEFAULT_PERCH, help="path of the perch binary")
    parser.add_argument("--perch-config", help="config file passed to perch with -c")
    parser.add_argument("--mosquitto", default=MOSQUITTO_PATH, help="path of mosquitto")
    parser.add_argument("-k", dest="filter", help="run tests whose name, title or id contains this")
    parser.add_argument("--report", help="write a Markdown table of the results here")
    parser.add_argument("--json", help="write the results as JSON here (see compare.py)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print failure details")
    arguments = parser.parse_args()

    tests = suite.load_test_modules(HERE)
    if arguments.filter:
        tests = [test for test in tests if test.matches(arguments.filter)]
    if not tests:
        print("no tests match %r" % arguments.filter)
        return 2

    signal.signal(signal.SIGALRM, _on_alarm)
    broker = Broker(
        arguments.broker,
        perch_path=os.path.abspath(arguments.perch),
        perch_config=arguments.perch_config,
        mosquitto_path=arguments.mosquitto,
    )
    try:
        broker.start()
    except RuntimeError as error:
        print("cannot start %s: %s" % (arguments.broker, error))
        return 2
    results = []
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0, "XFAIL": 0, "XPASS": 0}
    started = time.monotonic()
    try:
        for test in tests:
            status, detail, notes, seconds = run_one(test, broker)
            counts[status] += 1
            ids = " ".join(test.statement_ids)
            line = "%-5s %-62s %s" % (status, test.name, ids)
            extra = [detail.splitlines()[0]] if detail else []
            extra += notes
            if extra:
                line += "  -- " + "; ".join(extra)
            print(line, flush=True)
            if status == "FAIL" and arguments.verbose and "\n" in detail:
                print("     " + detail.replace("\n", "\n     "))
            results.append(
                {
                    "name": test.name,
                    "title": test.title,
                    "version": suite.VERSION_LABELS[test.version],
                    "statements": list(test.statement_ids),
                    "status": status,
                    "detail": detail,
                    "notes": notes,
                    "seconds": round(seconds, 3),
                }
            )
    finally:
        broker.stop()
    reports = broker.sanitizer_reports()
    if reports:
        counts["FAIL"] += 1
        print("FAIL  sanitizer reports in the %s log:\n      %s" % (
            arguments.broker, "\n      ".join(reports[:20])))

    total = len(results)
    statements = sorted({(r["version"], s) for r in results for s in r["statements"]})
    print(
        "%s: %d/%d passed (%d failed, %d known deviations, %d skipped) in %.1f s; "
        "%d distinct statements cited"
        % (
            arguments.broker,
            counts["PASS"] + counts["XPASS"],
            total,
            counts["FAIL"],
            counts["XFAIL"],
            counts["SKIP"],
            time.monotonic() - started,
            len(statements),
        )
    )
    if arguments.report:
        write_report(arguments.report, arguments.broker, results, counts)
    if arguments.json:
        with open(arguments.json, "w", encoding="utf-8") as output:
            json.dump({"broker": arguments.broker, "results": results}, output, indent=1)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
