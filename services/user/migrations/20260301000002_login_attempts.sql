-- Consecutive failed logins per normalised email, whether or not an account has it, so the
-- backoff cannot tell an attacker which emails are registered. Shared by every replica.
CREATE TABLE login_attempts (
    email           text        PRIMARY KEY,
    failures        integer     NOT NULL CHECK (failures > 0),
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz
);

CREATE INDEX login_attempts_last_failure_at_idx ON login_attempts (last_failure_at);
