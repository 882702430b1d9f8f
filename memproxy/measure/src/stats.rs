//! Interleaved rounds, and the medians and quartiles of their samples.
//!
//! On a shared machine the speed drifts by more than the differences worth
//! measuring, so set-ups are never timed one after the other: each round
//! runs every set-up once, in an order that rotates from round to round (no
//! set-up always follows the same one or always runs first), and set-ups
//! are compared by ratios paired within a round.

use serde::{Deserialize, Serialize};

/// The middle and the spread of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    /// First and third quartiles: half the samples lie between them.
    pub p25: f64,
    pub p75: f64,
    pub min: f64,
    pub max: f64,
    pub samples: usize,
}

impl Spread {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Spread {
            median: quantile(&sorted, 0.5),
            p25: quantile(&sorted, 0.25),
            p75: quantile(&sorted, 0.75),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            samples: sorted.len(),
        })
    }
}

/// The order of the set-ups in round `round` (counting from 0) of an
/// interleaved measurement of `setups` set-ups: `round, round + 1, ...`,
/// wrapping around.
pub fn rotation(round: usize, setups: usize) -> impl Iterator<Item = usize> {
    (0..setups).map(move |offset| (round + offset) % setups)
}

/// `numerator[i] / denominator[i]` for each round `i`: each ratio compares
/// two samples taken moments apart, so the machine's drift cancels.
pub fn paired_ratios(numerator: &[f64], denominator: &[f64]) -> Vec<f64> {
    numerator
        .iter()
        .zip(denominator)
        .map(|(top, bottom)| top / bottom)
        .collect()
}

/// `this[i] - baseline[i]` for each round `i`.
pub fn paired_differences(this: &[f64], baseline: &[f64]) -> Vec<f64> {
    this.iter()
        .zip(baseline)
        .map(|(this, base)| this - base)
        .collect()
}

impl Spread {
    /// Whether the middle half of the samples lies on both sides of
    /// `value`: for a ratio and 1.0, no measurable difference.
    pub fn spans(&self, value: f64) -> bool {
        self.p25 <= value && value <= self.p75
    }
}

/// Linear interpolation between the closest ranks; `sorted` is not empty.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quartiles() {
        let spread = Spread::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(spread.median, 3.0);
        assert_eq!(spread.p25, 2.0);
        assert_eq!(spread.p75, 4.0);
        assert_eq!((spread.min, spread.max), (1.0, 5.0));
        assert_eq!(spread.samples, 5);
        let even = Spread::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(even.median, 2.5);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn each_round_starts_one_set_up_later() {
        let orders: Vec<Vec<usize>> = (0..4).map(|round| rotation(round, 3).collect()).collect();
        assert_eq!(orders, [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]);
    }

    #[test]
    fn ratios_and_differences_pair_rounds() {
        assert_eq!(paired_ratios(&[2.0, 9.0], &[1.0, 3.0]), [2.0, 3.0]);
        assert_eq!(paired_differences(&[2.0, 9.0], &[1.0, 3.0]), [1.0, 6.0]);
        let spread = Spread::of(&[0.9, 1.1, 1.2]).unwrap();
        assert!(spread.spans(1.0) && !spread.spans(1.3));
    }
}
