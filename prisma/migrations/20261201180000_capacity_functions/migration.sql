-- The capacity queue's operations as server-side functions: each is one statement from the worker, so the
-- queue's lock (a transaction advisory lock, the same key store/capacity.ts used before) is held for the
-- function's own run, never across round trips to a busy client. The fair order is unchanged.

-- Grants free slots to waiting executions in fair order — round robin over owners: the owner served longest
-- ago (or never) first, then the one holding fewest slots, then by arrival. The caller holds the queue lock.
CREATE FUNCTION capacity_grant(p_global integer, p_per_owner integer, p_per_language integer) RETURNS uuid[]
LANGUAGE plpgsql AS $$
DECLARE
  granted uuid[] := '{}';
  next_id uuid;
  next_owner text;
  now_at timestamptz(3);
BEGIN
  LOOP
    EXIT WHEN (SELECT count(*) FROM capacity_reservations WHERE state = 'holding') >= p_global;
    SELECT w.execution_id, w.owner_id INTO next_id, next_owner
      FROM capacity_reservations w
      LEFT JOIN (SELECT owner_id, count(*) AS n FROM capacity_reservations WHERE state = 'holding' GROUP BY owner_id) ho ON ho.owner_id = w.owner_id
      LEFT JOIN (SELECT language, count(*) AS n FROM capacity_reservations WHERE state = 'holding' GROUP BY language) hl ON hl.language = w.language
      LEFT JOIN capacity_owners o ON o.owner_id = w.owner_id
     WHERE w.state = 'waiting'
       AND coalesce(ho.n, 0) < p_per_owner
       AND coalesce(hl.n, 0) < p_per_language
     ORDER BY o.last_granted_at NULLS FIRST, coalesce(ho.n, 0), w.enqueued_at, w.execution_id
     LIMIT 1;
    EXIT WHEN NOT FOUND;
    now_at := clock_timestamp();
    UPDATE capacity_reservations SET state = 'holding', granted_at = now_at WHERE execution_id = next_id;
    INSERT INTO capacity_owners (owner_id, last_granted_at) VALUES (next_owner, now_at)
      ON CONFLICT (owner_id) DO UPDATE SET last_granted_at = EXCLUDED.last_granted_at;
    granted := granted || next_id;
  END LOOP;
  RETURN granted;
END
$$;

-- Joins the queue (idempotent) and grants whatever is free. Returns whether this execution holds a slot, the
-- waiting executions ahead of it when it does not, and the other executions granted meanwhile (to be told).
CREATE FUNCTION capacity_reserve(
  p_execution_id uuid, p_owner_id text, p_language text, p_global integer, p_per_owner integer, p_per_language integer,
  OUT granted boolean, OUT queue_position integer, OUT granted_others uuid[]
) LANGUAGE plpgsql AS $$
DECLARE
  mine capacity_reservations%ROWTYPE;
BEGIN
  PERFORM pg_advisory_xact_lock(235667457); -- 0x0e0c0001: the queue lock
  INSERT INTO capacity_reservations (execution_id, owner_id, language) VALUES (p_execution_id, p_owner_id, p_language)
    ON CONFLICT (execution_id) DO NOTHING;
  granted_others := array_remove(capacity_grant(p_global, p_per_owner, p_per_language), p_execution_id);
  SELECT * INTO STRICT mine FROM capacity_reservations WHERE execution_id = p_execution_id;
  granted := mine.state = 'holding';
  IF NOT granted THEN
    SELECT count(*) INTO queue_position FROM capacity_reservations WHERE state = 'waiting' AND enqueued_at < mine.enqueued_at;
  END IF;
END
$$;

-- Leaves the queue or frees the slot (idempotent), and grants freed capacity; returns the executions granted.
CREATE FUNCTION capacity_release(p_execution_id uuid, p_global integer, p_per_owner integer, p_per_language integer) RETURNS uuid[]
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(235667457); -- 0x0e0c0001: the queue lock
  DELETE FROM capacity_reservations WHERE execution_id = p_execution_id;
  RETURN capacity_grant(p_global, p_per_owner, p_per_language);
END
$$;
