//! Money, exactly: prices and costs in picodollars (10⁻¹² USD) as integers. A price "per
//! million tokens" in USD is, read in picodollars, the price of one token: $0.15 per million is
//! 150,000 pico-USD a token. Costs are sums of tokens times those prices, so no rounding happens
//! between a price list and a bill.

use serde::{Deserialize, Serialize};

/// Picodollars in one US dollar.
pub const PICO_PER_USD: i64 = 1_000_000_000_000;

/// An amount of money in picodollars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pico(pub i64);

impl Pico {
    /// `usd` dollars, rounded to the nearest picodollar (`None` if negative, not finite or over
    /// about nine million dollars).
    pub fn from_usd(usd: f64) -> Option<Pico> {
        let pico = (usd * PICO_PER_USD as f64).round();
        (usd.is_finite() && usd >= 0.0 && pico < i64::MAX as f64).then_some(Pico(pico as i64))
    }

    /// In dollars, for answers (`costUsd`).
    pub fn usd(self) -> f64 {
        self.0 as f64 / PICO_PER_USD as f64
    }

    /// `self + other`, saturating.
    pub fn plus(self, other: Pico) -> Pico {
        Pico(self.0.saturating_add(other.0))
    }
}

/// A model's prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prices {
    /// Of one input (prompt) token.
    pub input_per_token: Pico,
    /// Of one output (completion) token.
    pub output_per_token: Pico,
}

/// Tokens used by one generation.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Tokens of the prompt.
    pub input_tokens: u64,
    /// Tokens generated.
    pub output_tokens: u64,
    /// The two together.
    pub total_tokens: u64,
}

impl Usage {
    /// `input` and `output` tokens.
    pub fn new(input: u64, output: u64) -> Self {
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input.saturating_add(output),
        }
    }
}

impl Prices {
    /// From prices in USD per million tokens, as providers list them.
    pub fn per_million_usd(input: f64, output: f64) -> Option<Prices> {
        // USD per million tokens, read in picodollars, is the price of one token in micro-USD
        // per million: multiply by 10^6 to get picodollars a token.
        Some(Prices {
            input_per_token: Pico::from_usd(input / 1_000_000.0)?,
            output_per_token: Pico::from_usd(output / 1_000_000.0)?,
        })
    }

    /// The price of one million input tokens, in USD.
    pub fn input_per_million_usd(self) -> f64 {
        self.input_per_token.usd() * 1_000_000.0
    }

    /// The price of one million output tokens, in USD.
    pub fn output_per_million_usd(self) -> f64 {
        self.output_per_token.usd() * 1_000_000.0
    }

    /// What `usage` costs.
    pub fn cost(self, usage: Usage) -> Pico {
        let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Pico(
            tokens(usage.input_tokens)
                .saturating_mul(self.input_per_token.0)
                .saturating_add(
                    tokens(usage.output_tokens).saturating_mul(self.output_per_token.0),
                ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: tokens × (USD per million) / 1,000,000.
    #[test]
    fn costs_match_a_table_worked_by_hand() {
        let table: &[(f64, f64, u64, u64, f64)] = &[
            // input $/M, output $/M, input tokens, output tokens, cost USD
            (0.15, 0.60, 1_000, 500, 0.000_45), // 0.00015 + 0.0003
            (2.50, 10.00, 12_345, 678, 0.037_642_5), // 0.0308625 + 0.00678
            (3.00, 15.00, 1_000_000, 1_000_000, 18.0),
            (0.0, 0.0, 50_000, 50_000, 0.0),
            (0.075, 0.30, 1, 1, 0.000_000_375), // 0.000000075 + 0.0000003
            (1.10, 4.40, 0, 4_000, 0.017_6),
        ];
        for &(input, output, tin, tout, usd) in table {
            let prices = Prices::per_million_usd(input, output).unwrap();
            let cost = prices.cost(Usage::new(tin, tout));
            assert_eq!(
                cost,
                Pico::from_usd(usd).unwrap(),
                "{input}/{output} per million, {tin} in, {tout} out"
            );
        }
    }

    #[test]
    fn prices_read_back_as_listed() {
        let p = Prices::per_million_usd(0.15, 0.6).unwrap();
        assert_eq!(p.input_per_token, Pico(150_000));
        assert_eq!(p.output_per_token, Pico(600_000));
        assert!((p.input_per_million_usd() - 0.15).abs() < 1e-12);
        assert!((p.output_per_million_usd() - 0.6).abs() < 1e-12);
    }

    #[test]
    fn nonsense_prices_are_refused() {
        assert!(Prices::per_million_usd(-1.0, 0.0).is_none());
        assert!(Prices::per_million_usd(f64::NAN, 0.0).is_none());
        assert!(Pico::from_usd(f64::INFINITY).is_none());
    }
}
