-- How many hits each key has in its window, kept beside the hits: a limit
-- reads one row instead of counting the window's rows, whose number grows
-- with the limit and with traffic from one key. The hits stay: the oldest
-- in the window says when there is room again, and a hit leaving the window
-- is deleted and uncounted by the next take of its key.
CREATE TABLE rate_counts (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    hits INTEGER NOT NULL,
    newest INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);

INSERT INTO rate_counts (bucket, key, hits, newest)
SELECT bucket, key, COUNT(*), MAX(at) FROM rate_hits GROUP BY bucket, key;
