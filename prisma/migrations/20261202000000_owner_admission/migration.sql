-- The owner's quota gate for a single submission, as a server-side function: it takes the owner's lock (a
-- transaction advisory lock on the key store/owner-locks.ts takes as a session lock for batches, so the two
-- exclude each other) and counts the owner's unfinished executions. The API calls it inside the statement that
-- inserts the row (store/transitions.ts createExecution), so the lock is held for that one statement, never
-- across round trips. Its count is a query of its own, run after the lock is granted: a volatile function's
-- queries each take a fresh snapshot, so it sees the rows of every submission that held the lock before it.
CREATE FUNCTION owner_admission(p_owner_id text, p_terminal text[]) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('eo:owner:' || p_owner_id, 0));
  RETURN (SELECT count(*) FROM executions WHERE owner_id = p_owner_id AND status::text <> ALL (p_terminal));
END
$$;
