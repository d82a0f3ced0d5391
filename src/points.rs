//! Points as the grader counts them: whole hundredths, so that partial credit (a share of
//! a task's points) adds up exactly over a task, a submission and a class, and reads the
//! same in every report.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of points, to the hundredth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Points(u64);

impl Points {
    pub const ZERO: Points = Points(0);

    /// `n` whole points.
    pub fn whole(n: u32) -> Points {
        Points(u64::from(n) * 100)
    }

    /// `part / whole` of `of`, to the nearest hundredth (halves up); all of it when `part`
    /// is `whole`, nothing when `whole` is 0.
    pub fn share(of: Points, part: u64, whole: u64) -> Points {
        if whole == 0 {
            return Points::ZERO;
        }
        let part = part.min(whole);
        let scaled = u128::from(of.0) * u128::from(part);
        let rounded = (scaled * 2 + u128::from(whole)) / (u128::from(whole) * 2);
        Points(u64::try_from(rounded).unwrap_or(u64::MAX))
    }

    /// `total` split over `weights` in proportion, to the hundredth, adding up to `total`
    /// exactly: each gets its share rounded down, and the hundredths left go to the
    /// largest remainders (the first of equal ones).
    pub fn apportion(total: Points, weights: &[u64]) -> Vec<Points> {
        let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        if sum == 0 {
            return vec![Points::ZERO; weights.len()];
        }
        let exact: Vec<(u128, u128)> = weights
            .iter()
            .map(|&w| {
                let scaled = u128::from(total.0) * u128::from(w);
                (scaled / sum, scaled % sum)
            })
            .collect();
        let given: u128 = exact.iter().map(|(q, _)| q).sum();
        let mut left = u128::from(total.0).saturating_sub(given);
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
        let mut out: Vec<u128> = exact.iter().map(|(q, _)| *q).collect();
        for i in order {
            if left == 0 || exact[i].1 == 0 {
                break;
            }
            out[i] += 1;
            left -= 1;
        }
        out.into_iter()
            .map(|h| Points(u64::try_from(h).unwrap_or(u64::MAX)))
            .collect()
    }

    /// One hundredth less (nothing stays nothing).
    pub fn less_a_hundredth(self) -> Points {
        Points(self.0.saturating_sub(1))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The points, when they are whole.
    pub fn as_whole(self) -> Option<u64> {
        self.0.is_multiple_of(100).then_some(self.0 / 100)
    }

    /// Reads a number of points as a results file holds it (`7`, `9.17`): never negative,
    /// never finer than a hundredth.
    pub fn from_f64(value: f64) -> Result<Points, String> {
        if !value.is_finite() || !(0.0..=1e15).contains(&value) {
            return Err(format!("{value} is not a number of points"));
        }
        let hundredths = (value * 100.0).round();
        if (hundredths - value * 100.0).abs() > 1e-6 {
            return Err(format!(
                "{value} is not a number of points (they count to the hundredth)"
            ));
        }
        Ok(Points(hundredths as u64))
    }
}

impl From<u32> for Points {
    fn from(n: u32) -> Points {
        Points::whole(n)
    }
}

impl PartialEq<u32> for Points {
    fn eq(&self, other: &u32) -> bool {
        *self == Points::whole(*other)
    }
}

impl Add for Points {
    type Output = Points;
    fn add(self, other: Points) -> Points {
        Points(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Points {
    fn add_assign(&mut self, other: Points) {
        *self = *self + other;
    }
}

impl Sum for Points {
    fn sum<I: Iterator<Item = Points>>(iter: I) -> Points {
        iter.fold(Points::ZERO, Add::add)
    }
}

impl fmt::Display for Points {
    /// `10`, `9.5`, `9.17`: no trailing zeros, no decimal point for whole points.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, cents) = (self.0 / 100, self.0 % 100);
        let text = match cents {
            0 => whole.to_string(),
            c if c.is_multiple_of(10) => format!("{whole}.{}", c / 10),
            c => format!("{whole}.{c:02}"),
        };
        f.pad(&text)
    }
}

impl Serialize for Points {
    /// Whole points as an integer (`10`), others as a decimal (`9.17`).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_whole() {
            Some(n) => s.serialize_u64(n),
            None => s.serialize_f64(self.as_f64()),
        }
    }
}

impl<'de> Deserialize<'de> for Points {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Points, D::Error> {
        let value = f64::deserialize(d)?;
        Points::from_f64(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_to_the_hundredth_and_add_up_exactly() {
        let ten = Points::whole(10);
        assert_eq!(Points::share(ten, 11, 12).to_string(), "9.17");
        assert_eq!(Points::share(ten, 12, 12), ten);
        assert_eq!(Points::share(ten, 0, 12), Points::ZERO);
        assert_eq!(Points::share(ten, 1, 0), Points::ZERO);
        assert_eq!(Points::share(ten, 1, 2).to_string(), "5");
        assert_eq!(Points::share(ten, 1, 4).to_string(), "2.5");
        assert_eq!(Points::share(ten, 1, 3).to_string(), "3.33");
        // A part larger than the whole is the whole, never more.
        assert_eq!(Points::share(ten, 13, 12), ten);
        let sum: Points = [Points::share(ten, 1, 3), Points::whole(2)]
            .into_iter()
            .sum();
        assert_eq!(sum.to_string(), "5.33");
        assert_eq!(format!("{:>6}", Points::whole(7)), "     7");
    }

    #[test]
    fn apportioned_shares_add_up_to_the_total() {
        let shares = |total: u32, weights: &[u64]| -> Vec<String> {
            let parts = Points::apportion(Points::whole(total), weights);
            assert_eq!(parts.iter().copied().sum::<Points>(), Points::whole(total));
            parts.iter().map(Points::to_string).collect()
        };
        assert_eq!(shares(10, &[1, 1, 1]), ["3.34", "3.33", "3.33"]);
        assert_eq!(shares(1, &[1; 18])[..3], ["0.06", "0.06", "0.06"]);
        assert_eq!(shares(1, &[1; 18])[17], "0.05");
        assert_eq!(shares(10, &[0, 3, 1]), ["0", "7.5", "2.5"]);
        assert_eq!(
            Points::apportion(Points::whole(10), &[0, 0]),
            [Points::ZERO; 2]
        );
    }

    #[test]
    fn whole_points_serialize_as_integers_and_read_back() {
        let json =
            serde_json::to_string(&[Points::whole(7), Points::share(Points::whole(10), 11, 12)])
                .expect("serializes");
        assert_eq!(json, "[7,9.17]");
        let back: Vec<Points> = serde_json::from_str(&json).expect("reads back");
        assert_eq!(
            back,
            [Points::whole(7), Points::share(Points::whole(10), 11, 12)]
        );
        for bad in ["-1", "1.005", "1e300"] {
            assert!(
                serde_json::from_str::<Points>(bad).is_err(),
                "{bad} read as points"
            );
        }
    }
}
