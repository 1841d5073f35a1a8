-- Each reservation under way, with when it was made: `ai_budgets.reserved` is their sum per
-- caller and period. A hold whose server ended before giving it back (a crash, a restart while
-- a model call was under way) is found here by its age and released (`Ledger::open`, and each
-- reservation for its caller), so it never outlives its server by more than the longest a call
-- can run.
CREATE TABLE ai_holds (
    id BIGSERIAL PRIMARY KEY,
    caller TEXT NOT NULL,
    day TEXT NOT NULL,
    month TEXT NOT NULL,
    amount BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ai_holds_created_at ON ai_holds (created_at);
CREATE INDEX ai_holds_caller ON ai_holds (caller, created_at);
