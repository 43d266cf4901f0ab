-- An application's latest change (its own or any of its configurations', deletions included),
-- and the feed of one application, from the index alone.
CREATE INDEX changes_application_id_revision_idx ON changes (application_id, revision);
