-- Nodes keep validated sessions in memory (see src/postgres/watch.rs). Every
-- change to what a session check answers names its account on the channel
-- shiming_sessions, whichever build or tool writes it: PostgreSQL delivers
-- the notification at commit, to every listening node, in commit order, and
-- never for a change rolled back. Last-seen updates (the only frequent
-- change) are not announced: a cached copy of them is refreshed by age.
CREATE FUNCTION shiming_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'accounts' THEN
        PERFORM pg_notify('shiming_sessions', 'a ' || OLD.id);
    ELSE
        PERFORM pg_notify('shiming_sessions', 'a ' || OLD.account_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER session_changed AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (OLD.step_up_until IS DISTINCT FROM NEW.step_up_until
          OR OLD.expires_at <> NEW.expires_at
          OR OLD.token_hash <> NEW.token_hash
          OR OLD.account_id <> NEW.account_id)
    EXECUTE FUNCTION shiming_sessions_changed();

CREATE TRIGGER session_ended AFTER DELETE ON sessions FOR EACH ROW
    EXECUTE FUNCTION shiming_sessions_changed();

CREATE TRIGGER account_changed AFTER UPDATE ON accounts FOR EACH ROW
    WHEN (OLD.state <> NEW.state OR OLD.nature <> NEW.nature)
    EXECUTE FUNCTION shiming_sessions_changed();
