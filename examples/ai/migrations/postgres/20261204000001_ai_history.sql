-- Generations kept at their callers' request (or the configuration's), secrets removed first:
-- the prompt, the answer, why it stopped and what it cost. Each is its caller's alone.
CREATE TABLE ai_history (
    id TEXT PRIMARY KEY,
    caller TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    prompt TEXT NOT NULL,
    answer TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_picodollars BIGINT NOT NULL,
    streamed BIGINT NOT NULL,
    secrets_removed BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ai_history_caller ON ai_history (caller, created_at, id);
