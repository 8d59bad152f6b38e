#!/usr/bin/python3
"""Which tables and indexes a SQLite write-ahead log's frames hold: the pages written since the
last checkpoint reset it, by B-tree, the commits among them, and how many distinct pages they are
(what the next checkpoint copies into the database).

Usage: wal_pages.py COPY_OF_DB COPY_OF_WAL

Copy the database and its -wal while the broker runs (it checkpoints and removes the WAL when it
stops): COPY_OF_DB beside its own COPY_OF_DB-wal (opened to name the pages, which checkpoints it),
and a second copy of the WAL to parse. Only the frames of the current WAL cycle count (those whose salt is the header's). A page
is named by the B-tree that holds it in the copy of the database (dbstat), so a page freed or
moved since it was written shows as "free/unknown". Needs Debian's python3 (/usr/bin/python3),
whose SQLite has the dbstat table.
"""
import collections
import sqlite3
import struct
import sys


def frames(wal_path):
    data = open(wal_path, "rb").read()
    if len(data) < 32:
        return 0, []
    magic, version, page_size, checkpoint, salt1, salt2 = struct.unpack(">IIIIII", data[:24])
    out = []
    offset = 32
    while offset + 24 + page_size <= len(data):
        page, commit_size, frame_salt1, frame_salt2 = struct.unpack(">IIII", data[offset:offset + 16])
        if (frame_salt1, frame_salt2) != (salt1, salt2):
            break
        out.append((page, commit_size))
        offset += 24 + page_size
    return page_size, out


def owners(db_path):
    connection = sqlite3.connect(db_path)
    return {page: name for name, page in connection.execute("SELECT name, pageno FROM dbstat")}


def main():
    db_path, wal_path = sys.argv[1], sys.argv[2]
    page_size, wal_frames = frames(wal_path)
    owner = owners(db_path)
    by_tree = collections.Counter(owner.get(page, "free/unknown") for page, _ in wal_frames)
    commits = sum(1 for _, size in wal_frames if size != 0)
    total = len(wal_frames)
    # What a checkpoint of this cycle copies into the database: each page once.
    distinct = len({page for page, _ in wal_frames})
    print(f"page_size={page_size} frames={total} commits={commits} "
          f"frames_per_commit={total / max(commits, 1):.2f} distinct_pages={distinct}")
    for name, count in by_tree.most_common():
        print(f"{count:7d} {100.0 * count / max(total, 1):5.1f}% {count / max(commits, 1):6.2f}/commit  {name}")


if __name__ == "__main__":
    main()
