#!/usr/bin/python3
# Builds the side-by-side results table (RESULTS.md) from the JSON that run.py --json writes for
# each broker. Usage: compare.py mosquitto.json perch.json [-o RESULTS.md]
"""Side-by-side comparison of two conformance runs."""

import argparse
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as source:
        data = json.load(source)
    return data["broker"], {result["name"]: result for result in data["results"]}


def summary(results):
    counts = {}
    for result in results.values():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    passed = counts.get("PASS", 0) + counts.get("XPASS", 0)
    return "%d/%d passed, %d failed, %d known deviations, %d skipped" % (
        passed,
        len(results),
        counts.get("FAIL", 0),
        counts.get("XFAIL", 0),
        counts.get("SKIP", 0),
    )


def first_line(result):
    parts = [result["detail"].splitlines()[0]] if result["detail"] else []
    parts += result["notes"]
    return "; ".join(parts).replace("|", "\\|")


def short_note(result):
    """Notes without the long deviation text, which has its own section."""
    if result["status"] == "XFAIL":
        return "known deviation, see above"
    return first_line(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reference", help="JSON of the reference broker run (mosquitto)")
    parser.add_argument("candidate", help="JSON of the broker under test (perch)")
    parser.add_argument("-o", "--output", help="Markdown file to write (default: stdout)")
    parser.add_argument("--note", default="", help="a sentence about the runs (build, date)")
    arguments = parser.parse_args()
    reference_name, reference = load(arguments.reference)
    candidate_name, candidate = load(arguments.candidate)
    names = list(reference) + [name for name in candidate if name not in reference]
    statements = sorted(
        {(r["version"], s) for r in list(reference.values()) + list(candidate.values())
         for s in r["statements"]}
    )
    lines = [
        "# Conformance results",
        "",
        "Produced by `conformance/run.py --json` for each broker and `conformance/compare.py`. "
        + arguments.note,
        "",
        "| broker | result |",
        "|---|---|",
        "| %s | %s |" % (reference_name, summary(reference)),
        "| %s | %s |" % (candidate_name, summary(candidate)),
        "",
        "%d tests, %d distinct (version, statement) pairs, %d distinct statement ids." % (
            len(names), len(statements), len({statement for _, statement in statements})),
        "",
        "XFAIL marks a known deviation of that broker from the cited statement (reported, not "
        "hidden); SKIP means the broker does not offer the feature the test needs.",
        "",
        "## %s failures" % candidate_name,
        "",
    ]
    failures = [name for name in names if candidate.get(name, {}).get("status") == "FAIL"]
    if not failures:
        lines.append("None.")
    for name in failures:
        lines.append("- `%s` %s: %s" % (
            name, " ".join("[%s]" % s for s in candidate[name]["statements"]),
            first_line(candidate[name])))
    lines += ["", "## %s known deviations (XFAIL)" % reference_name, ""]
    deviations = [name for name in names if reference.get(name, {}).get("status") == "XFAIL"]
    if not deviations:
        lines.append("None.")
    for name in deviations:
        lines.append("- `%s` %s: %s" % (
            name, " ".join("[%s]" % s for s in reference[name]["statements"]),
            first_line(reference[name])))
    lines += [
        "",
        "## All tests",
        "",
        "| test | statements | %s | %s | %s notes | %s notes |"
        % (reference_name, candidate_name, reference_name, candidate_name),
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        any_result = reference.get(name) or candidate.get(name)
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            name,
            " ".join(any_result["statements"]),
            reference.get(name, {}).get("status", "-"),
            candidate.get(name, {}).get("status", "-"),
            short_note(reference[name]) if name in reference else "",
            first_line(candidate[name]) if name in candidate else "",
        ))
    text = "\n".join(lines) + "\n"
    if arguments.output:
        with open(arguments.output, "w", encoding="utf-8") as output:
            output.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
