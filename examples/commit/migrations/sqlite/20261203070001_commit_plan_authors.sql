-- Who made each plan and who last edited it (user ids): only its author applies, edits or
-- discards it, unless the caller holds `commit:admin`. Plans made before this are owned by
-- nobody (both NULL).
ALTER TABLE commit_plans ADD COLUMN created_by TEXT;
ALTER TABLE commit_plans ADD COLUMN edited_by TEXT;
