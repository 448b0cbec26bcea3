-- A consent's scanned document may be an upload never posted in a note (under
-- --require-consent the first consent cannot wait for a post). Recording the consent keeps it:
-- `consent` names the consent that claimed it. A kept upload is not deleted by the clean-up of
-- unposted uploads and is not claimed by a post.
ALTER TABLE attachments ADD COLUMN consent TEXT;
