\set r random(0, 199)
\set s random(1, 1000000000)
BEGIN \; SELECT id, last_seq, members_version FROM rooms WHERE id = 'room-' || lpad(:r::text, 4, '0') FOR UPDATE;
WITH e AS (UPDATE rooms SET last_seq = last_seq + 1 WHERE id = 'room-' || lpad(:r::text, 4, '0') RETURNING id) INSERT INTO msgs VALUES ('room-' || lpad(:r::text, 4, '0'), :s, 'x') ON CONFLICT DO NOTHING;
COMMIT;
