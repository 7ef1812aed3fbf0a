-- Rate-limit hits as one row per key and second, holding how many hits that
-- second had, and both tables keyed by what they are looked up by (WITHOUT
-- ROWID): a hit now writes two b-trees instead of four (a table and its
-- index, twice), and hits of one key within one second share a row. The
-- window still slides second by second, as it did: `at` was always in
-- seconds.
CREATE TABLE rate_seconds (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    at INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (bucket, key, at)
) WITHOUT ROWID;
INSERT INTO rate_seconds (bucket, key, at, hits)
SELECT bucket, key, at, COUNT(*) FROM rate_hits GROUP BY bucket, key, at;
DROP TABLE rate_hits;
ALTER TABLE rate_seconds RENAME TO rate_hits;

CREATE TABLE rate_keys (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    hits INTEGER NOT NULL,
    newest INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
INSERT INTO rate_keys (bucket, key, hits, newest) SELECT bucket, key, hits, newest FROM rate_counts;
DROP TABLE rate_counts;
ALTER TABLE rate_keys RENAME TO rate_counts;
