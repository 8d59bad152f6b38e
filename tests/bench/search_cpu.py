#!/usr/bin/env python3
# CPU time per search over a database that bench_search filled: the search query before (ranked by
# bm25) against the one store/sqlite/search_tables.cpp runs now (newest first), through Python's
# sqlite3 on the system's libsqlite3, the library the server links. CPU time (not wall clock), so
# that a loaded machine does not inflate it. Read-only.
# usage: search_cpu.py DATABASE [SEARCHES_PER_KIND] [TABLE_FOR_NEW]
import json
import random
import sqlite3
import sys
import time

database = sys.argv[1]
searches = int(sys.argv[2]) if len(sys.argv) > 2 else 30
# Another FTS5 table over the same history (one made with other options) for the new query.
new_table = sys.argv[3] if len(sys.argv) > 3 else "chat_search"

connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
connection.execute("CREATE VIRTUAL TABLE temp.vocabulary USING fts5vocab(main, chat_search, row)")
# Words by the number of messages holding them, most frequent first: the bench's ranks.
words = [term for (term,) in connection.execute("SELECT term FROM temp.vocabulary ORDER BY doc DESC")]
long_words = [word for word in words if len(word) > 3]


def conversation(index):
    """The bench's conversation names (tests/bench/bench_search.cpp)."""
    if index < 300:
        return f"room/room{index}"
    pair = index - 300
    first, second = f"user{pair % 1000}", f"user{(pair * 7 + 1) % 1000}"
    return f"dm/{first}/{second}" if first < second else f"dm/{second}/{first}"


scopes = {
    "one_room": [conversation(1)],
    "member_of_30": [conversation(room * 15) for room in range(20)]
    + [conversation(300 + pair * 200) for pair in range(10)],
    "all_2300": [conversation(index) for index in range(2300)],
}
kinds = {
    "frequent": lambda draw: f'"{words[40 + draw.randrange(60)]}"',
    "middle": lambda draw: f'"{words[500 + draw.randrange(1500)]}"',
    "rare": lambda draw: f'"{words[10000 + draw.randrange(10000)]}"',
    "two_words": lambda draw: f'"{words[40 + draw.randrange(60)]}" "{words[200 + draw.randrange(800)]}"',
    "prefix": lambda draw: f'"{long_words[300 + draw.randrange(2000)][:3]}"*',
}

before = (
    "WITH page AS MATERIALIZED (SELECT h.rowid AS row, bm25(chat_search) AS score, "
    "h.ts_unix_ms AS ts, h.conversation AS conversation, h.id AS id "
    "FROM chat_search CROSS JOIN chat_history AS h ON h.rowid = chat_search.rowid "
    "WHERE chat_search MATCH ?1 AND h.conversation IN (SELECT value FROM json_each(?2)) "
    "AND h.id > ifnull((SELECT value FROM json_each(?3) WHERE key = h.conversation), 0) "
    "ORDER BY score, ts DESC, conversation, id DESC LIMIT 21 OFFSET 0) "
    "SELECT h.conversation, h.id, h.payload, snippet(chat_search, 0, '**', '**', '…', 16), "
    "page.score FROM page CROSS JOIN chat_search ON chat_search.rowid = page.row "
    "CROSS JOIN chat_history AS h ON h.rowid = page.row WHERE chat_search MATCH ?1 "
    "ORDER BY page.score, page.ts DESC, page.conversation, page.id DESC"
)
now = (
    "WITH page AS MATERIALIZED (SELECT h.rowid AS row "
    "FROM chat_search CROSS JOIN chat_history AS h ON h.rowid = chat_search.rowid "
    "WHERE chat_search MATCH ?1 AND h.conversation IN (SELECT value FROM json_each(?2)) "
    "AND h.id > ifnull((SELECT value FROM json_each(?3) WHERE key = h.conversation), 0) "
    "ORDER BY chat_search.rowid DESC LIMIT 21 OFFSET 0) "
    "SELECT h.conversation, h.id, h.payload, snippet(chat_search, 0, '**', '**', '…', 16) "
    "FROM page CROSS JOIN chat_search ON chat_search.rowid = page.row "
    "CROSS JOIN chat_history AS h ON h.rowid = page.row WHERE chat_search MATCH ?1 "
    "ORDER BY page.row DESC"
).replace("chat_search", new_table)

for scope_name, scope in scopes.items():
    for kind_name, make in kinds.items():
        results = []
        for label, query in (("before", before), ("now", now)):
            draw = random.Random(11)
            cpu_ms = []
            hits = 0
            for _ in range(searches):
                words_sought = make(draw)
                started = time.process_time()
                hits += len(connection.execute(query, (words_sought, json.dumps(scope), "{}")).fetchall())
                cpu_ms.append((time.process_time() - started) * 1000)
            cpu_ms.sort()
            results.append(
                f"{label} p50_ms={cpu_ms[searches // 2]:.2f} "
                f"p99_ms={cpu_ms[int(0.99 * (searches - 1))]:.2f} hits={hits / searches:.1f}"
            )
        print(f"scope={scope_name} query={kind_name} " + " | ".join(results), flush=True)
