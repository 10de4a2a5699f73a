-- Every API replica keeps the keys it has read (auth/key-cache.ts) and forgets one when it hears it changed: any
-- revocation, deletion or change of a key, whoever makes it, notifies its prefix. A use (last_used_at) does not.
CREATE FUNCTION notify_api_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('api_key_changes', OLD.prefix);
  IF TG_OP = 'UPDATE' AND NEW.prefix IS DISTINCT FROM OLD.prefix THEN
    PERFORM pg_notify('api_key_changes', NEW.prefix);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER api_key_changes
  AFTER UPDATE OF prefix, secret_hash, owner_id, role, revoked_at OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION notify_api_key_change();
