#!/usr/bin/env bash
# Fills a stopped perch's chat history with ROWS messages spread over the rooms of ROOMS_FILE, as
# months of traffic would have left it (issue 19: "a server with months of history"): the rooms'
# messages interleaved in append order, ids 1, 2, ... per conversation, stamped over the DAYS
# before now in increasing order, each sent by one of the room's members, with a 64-byte payload
# of a few common words. So the history's per-conversation index is as large as such a server's,
# and each conversation's newest entries sit in a page of their own. The full-text index is
# brought up to date too (the rows are indexed, merged into one segment, and its watermark
# raised), as the running broker would have left it, so that neither the first start nor the
# first batches of the step index or merge a million rows.
#
# Usage: tests/bench/seed-history.sh PERCH_DB ROOMS_FILE ROWS [DAYS]
#   ROOMS_FILE is `perch room import`'s format (room member member ...); DAYS defaults to 90.
# Needs the sqlite3 command-line shell. The file must not be open in a running perch.
set -euo pipefail

db=$1
rooms_file=$2
rows=$3
days=${4:-90}

# The rooms (slot in the interleaving, name, member count) and their members by position.
room_values=$(awk '{ printf "%s(%d, \x27%s\x27, %d)", (NR > 1 ? "," : ""), NR - 1, $1, NF - 1 }' \
    "$rooms_file")
member_values=$(awk '{
    for (i = 2; i <= NF; i++) printf "%s(%d, %d, \x27%s\x27)", (n++ ? "," : ""), NR - 1, i - 2, $i
}' "$rooms_file")
room_count=$(wc -l < "$rooms_file")

now_ms=$(($(date +%s) * 1000))
start_ms=$((now_ms - days * 86400000))
step_ms=$(((days * 86400000) / rows))

sqlite3 "$db" > /dev/null << EOF
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
BEGIN;
CREATE TEMP TABLE seed_rooms (slot INTEGER PRIMARY KEY, name TEXT, size INTEGER);
INSERT INTO seed_rooms VALUES $room_values;
CREATE TEMP TABLE seed_members (slot INTEGER, position INTEGER, user TEXT,
    PRIMARY KEY (slot, position));
INSERT INTO seed_members VALUES $member_values;
-- Each room's next id continues after what it holds already.
CREATE TEMP TABLE seed_base AS SELECT slot, ifnull((SELECT max(id) FROM chat_history
    WHERE conversation = 'room/' || name), 0) AS base FROM seed_rooms;
WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n + 1 < $rows),
message AS (
    SELECT n, r.name AS room, b.base + n / $room_count + 1 AS id, m.user AS sender
    FROM k JOIN seed_rooms AS r ON r.slot = n % $room_count
    JOIN seed_base AS b ON b.slot = r.slot
    JOIN seed_members AS m ON m.slot = r.slot AND m.position = (n / $room_count) % r.size)
INSERT INTO chat_history (conversation, id, sender, topic, ts_unix_ms, payload)
SELECT 'room/' || room, id, sender, 'chat/room/' || room || '/' || sender,
    $start_ms + n * $step_ms,
    CAST(substr(printf('seeded message %d about the %s plan for lunch and the weather ', id,
        CASE n % 4 WHEN 0 THEN 'new' WHEN 1 THEN 'old' WHEN 2 THEN 'big' ELSE 'usual' END)
        || 'padding padding padding', 1, 64) AS BLOB)
FROM message;
COMMIT;
EOF

# The search index as a running broker leaves it: every row up to the watermark indexed
# (schema version 15 and later; nothing to do when the index is off or absent).
if [[ $(sqlite3 "$db" "SELECT count(*) FROM sqlite_master WHERE name = 'chat_search_state'") == 1 &&
    $(sqlite3 "$db" "SELECT count(*) FROM sqlite_master WHERE name = 'chat_search'") == 1 ]]; then
    sqlite3 "$db" << 'EOF'
PRAGMA synchronous = OFF;
BEGIN;
INSERT INTO chat_search (rowid, payload) SELECT rowid, payload FROM chat_history
    WHERE rowid > (SELECT indexed_upto FROM chat_search_state) AND event = 0 AND is_deleted = 0;
UPDATE chat_search_state SET indexed_upto = (SELECT max(rowid) FROM chat_history);
COMMIT;
-- One segment, as months of batches merged would leave it: otherwise the segments of this one
-- transaction are merged by the first batches of the measured step (tens of MB).
INSERT INTO chat_search (chat_search) VALUES ('optimize');
EOF
fi
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE);" > /dev/null
