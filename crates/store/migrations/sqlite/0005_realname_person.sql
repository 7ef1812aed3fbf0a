-- The person an account's real name last named. It is kept when the
-- credentials stop attesting anyone (an unbind), so that a real name can
-- change only through the rebinding procedure, never by unbinding and then
-- verifying someone else.

ALTER TABLE accounts ADD COLUMN realname_person_hash BLOB;

UPDATE accounts SET realname_person_hash = (
    SELECT p.person_hash FROM credentials c
    JOIN attestations a ON a.credential_id = c.id
    JOIN persons p ON p.id = a.person_id
    WHERE c.account_id = accounts.id
    ORDER BY c.kind = 'wechat' DESC LIMIT 1
);
