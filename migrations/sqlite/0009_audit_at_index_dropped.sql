-- The index on `audit.at` served no query on SQLite: the audit listing's optional filters
-- (`$2 IS NULL OR at >= $2`) make SQLite scan the table by id, and the work-session
-- queries use `audit_work_session`. It cost every appended row an index insert (a
-- B-tree descent comparing timestamps as text) and its page in the WAL at every commit.
DROP INDEX audit_at;
