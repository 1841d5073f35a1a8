-- Each plan's revision, raised by every change to it (an edit, a redo, an apply, a push, a new
-- plan over it): a change is written only over the revision it read, so two requests at once
-- never erase each other's work.
ALTER TABLE commit_plans ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
