-- LISTEN/NOTIFY in one session (psql prints notifications after each command).
LISTEN chan;
NOTIFY chan, 'payload one';
SELECT pg_notify('chan', 'payload two');
UNLISTEN chan;
NOTIFY chan, 'not heard';
SELECT 'done';
