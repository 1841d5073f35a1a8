//! What the AI plugin adds to the server's `/metrics`: the tokens and the cost of every charged
//! call, by model. Counted where a call is charged (after the ledger has recorded it), so the
//! metrics agree with `GET /usage`. Each configured model's series exist from the start, at zero.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::atomic::AtomicU64;

use crate::cost::{Pico, Usage};

/// Which tokens.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Kind {
    Input,
    Output,
}

impl EncodeLabelValue for Kind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        encoder.write_str(match self {
            Kind::Input => "input",
            Kind::Output => "output",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    kind: Kind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

/// The AI plugin's counters, registered with the server's metrics.
#[derive(Clone, Debug, Default)]
pub struct AiMetrics {
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabel, Counter<f64, AtomicU64>>,
    calls: Family<ModelLabel, Counter>,
}

impl AiMetrics {
    /// Counters for `models`, each at zero, registered in `metrics` as `ai_tokens_total`,
    /// `ai_cost_usd_total` and `ai_calls_total`.
    pub fn register<'a>(
        metrics: &plugin_routes::Metrics,
        models: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let counted = AiMetrics::default();
        // Each series made now, at zero (the guards `get_or_create` returns are let go at once).
        for model in models {
            for kind in [Kind::Input, Kind::Output] {
                let _ = counted.tokens.get_or_create(&TokenLabels {
                    model: model.to_owned(),
                    kind,
                });
            }
            let model = ModelLabel {
                model: model.to_owned(),
            };
            let _ = counted.cost.get_or_create(&model);
            let _ = counted.calls.get_or_create(&model);
        }
        metrics.register(
            "ai_tokens",
            "Tokens charged, by model and kind (input or output)",
            counted.tokens.clone(),
        );
        metrics.register(
            "ai_cost_usd",
            "What the charged calls cost, in US dollars, by model",
            counted.cost.clone(),
        );
        metrics.register(
            "ai_calls",
            "Calls to a model that were charged, by model",
            counted.calls.clone(),
        );
        counted
    }

    /// A call to `model` was charged `usage`, costing `cost`.
    pub(crate) fn charged(&self, model: &str, usage: Usage, cost: Pico) {
        let tokens = |kind| TokenLabels {
            model: model.to_owned(),
            kind,
        };
        self.tokens
            .get_or_create(&tokens(Kind::Input))
            .inc_by(usage.input_tokens);
        self.tokens
            .get_or_create(&tokens(Kind::Output))
            .inc_by(usage.output_tokens);
        let model = ModelLabel {
            model: model.to_owned(),
        };
        self.cost.get_or_create(&model).inc_by(cost.usd());
        self.calls.get_or_create(&model).inc();
    }
}
