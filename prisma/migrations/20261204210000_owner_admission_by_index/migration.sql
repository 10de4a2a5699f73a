-- The owner's quota gate counted `status::text <> ALL (terminal)`: no index answers a not-equal, so every
-- submission read all of its owner's executions, finished ones included (or the whole table, which the planner
-- then prefers), under the owner's lock. It now counts each status that is not terminal on its own, an equality
-- on both columns of the (owner_id, status) index, so it reads only the owner's queued and running rows (one
-- `status = ANY (…)` the planner may leave as a filter over all of the owner's rows). Same signature, so an API
-- of the version before calls it unchanged.
CREATE OR REPLACE FUNCTION owner_admission(p_owner_id text, p_terminal text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  unfinished "ExecutionStatus";
  active integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('eo:owner:' || p_owner_id, 0));
  FOR unfinished IN SELECT s FROM unnest(enum_range(NULL::"ExecutionStatus")) s WHERE s::text <> ALL (p_terminal) LOOP
    active := active + (SELECT count(*) FROM executions WHERE owner_id = p_owner_id AND status = unfinished);
  END LOOP;
  RETURN active;
END
$$;
