-- The room's membership version: incremented in the same transaction as every member add,
-- update or removal and every room change; each committed message's bus event carries the value
-- read in its commit, so a node that missed a membership event notices before fanning out.
ALTER TABLE rooms ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
