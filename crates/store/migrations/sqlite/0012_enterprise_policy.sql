-- An enterprise's policy, as JSON: fields a later build adds take their
-- defaults when absent, so no policy needs rewriting.
ALTER TABLE enterprises ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';
