-- Every generation, per caller, with what it cost (picodollars: 10^-12 USD, exact integers).
CREATE TABLE ai_generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    caller TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_picodollars BIGINT NOT NULL,
    streamed INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    day TEXT NOT NULL,
    month TEXT NOT NULL
);
CREATE INDEX ai_generations_caller_day ON ai_generations (caller, day);
CREATE INDEX ai_generations_caller_month ON ai_generations (caller, month);

-- What each caller has spent and has reserved for generations under way, per day and month.
CREATE TABLE ai_budgets (
    caller TEXT NOT NULL,
    period TEXT NOT NULL,
    spent BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (caller, period)
);
