//! Virtual time: [`SimTime`] (an instant) and [`SimDuration`] (a span), both integer
//! microseconds. Nothing here reads a clock; durations in scenario files read like `250ms`,
//! `1.5s`, `2h` and Celery's own settings are seconds as numbers.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant of virtual time, in microseconds since the scenario started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of virtual time, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimDuration {
    /// Zero.
    pub const ZERO: SimDuration = SimDuration(0);
    /// `n` milliseconds.
    pub const fn from_millis(n: u64) -> Self {
        SimDuration(n * 1_000)
    }
    /// `n` whole seconds.
    pub const fn from_secs(n: u64) -> Self {
        SimDuration(n * 1_000_000)
    }
    /// Seconds as Celery writes them (a float), rounded to the microsecond.
    pub fn from_secs_f64(s: f64) -> Self {
        SimDuration((s * 1e6).round() as u64)
    }
    /// As fractional seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// `self * n`, saturating.
    pub fn times(self, n: u64) -> Self {
        SimDuration(self.0.saturating_mul(n))
    }
}

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// Far beyond any horizon.
    pub const NEVER: SimTime = SimTime(u64::MAX);
    /// Seconds since start.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// The span since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}
impl std::ops::Mul<u64> for SimDuration {
    type Output = SimDuration;
    fn mul(self, k: u64) -> SimDuration {
        SimDuration(self.0.saturating_mul(k))
    }
}
impl Sub for SimDuration {
    type Output = SimDuration;
    fn sub(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(d.0))
    }
}

impl fmt::Display for SimTime {
    /// Exact, and readable past a minute: `12.004s`, `4m5.004s`, `1h13m51.171402s`,
    /// `2d3h0m5.000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000;
        let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
        let rest = self.0 - (secs - secs % 60) * 1_000_000;
        if d > 0 {
            write!(f, "{d}d{h}h{m}m")?;
        } else if h > 0 {
            write!(f, "{h}h{m}m")?;
        } else if m > 0 {
            write!(f, "{m}m")?;
        } else {
            return write_secs(f, self.0);
        }
        write_secs(f, rest)
    }
}
impl SimDuration {
    /// As a person reads it: `350ms`, `4.03s`, `31.2s`, `4m5s`, `1h13m51s`, `2d3h4m`.
    pub fn human(self) -> String {
        let us = self.0;
        if us < 1_000_000 {
            return if us < 1_000 { format!("{us}µs") } else { format!("{}ms", (us + 500) / 1_000) };
        }
        if us < 10_000_000 {
            return format!("{:.2}s", us as f64 / 1e6);
        }
        if us < 60_000_000 {
            return format!("{:.1}s", us as f64 / 1e6);
        }
        let s = (us + 500_000) / 1_000_000;
        let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
        match (d, h) {
            (0, 0) => format!("{m}m{sec}s"),
            (0, _) => format!("{h}h{m}m{sec}s"),
            _ => format!("{d}d{h}h{m}m"),
        }
    }
}

impl fmt::Display for SimDuration {
    /// An exact form: `250ms`, `1.500s`, `2h`, `1h5m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us == 0 {
            return f.write_str("0s");
        }
        if us.is_multiple_of(1_000_000) {
            // Whole seconds: the shortest sum of units, e.g. `1h5m`, `2m30s`.
            let mut rest = us / 1_000_000;
            for (unit, size) in [("h", 3600u64), ("m", 60), ("s", 1)] {
                if rest >= size {
                    write!(f, "{}{unit}", rest / size)?;
                    rest %= size;
                }
            }
            return Ok(());
        }
        if us >= 60_000_000 {
            // Past a minute, in hours and minutes too: `3h0m1.003s`, exact.
            let whole_min = us / 60_000_000;
            let (h, m) = (whole_min / 60, whole_min % 60);
            if h > 0 {
                write!(f, "{h}h")?;
            }
            write!(f, "{m}m")?;
            return write_secs(f, us % 60_000_000);
        }
        if us >= 1_000_000 {
            return write_secs(f, us);
        }
        if us.is_multiple_of(1_000) { write!(f, "{}ms", us / 1_000) } else { write!(f, "{us}us") }
    }
}

fn write_secs(f: &mut fmt::Formatter<'_>, us: u64) -> fmt::Result {
    let whole = us / 1_000_000;
    let frac = us % 1_000_000;
    if frac.is_multiple_of(1_000) { write!(f, "{whole}.{:03}s", frac / 1_000) } else { write!(f, "{whole}.{frac:06}s") }
}

/// The longest duration a file may give: 10^11 s, about 3,170 years.
pub const MAX_DURATION: SimDuration = SimDuration(100_000_000_000_000_000);

/// Parse `250ms`, `1.5s`, `30m`, `2h`, `100us`, or a sum such as `1h5m` or `2m30s`.
/// On error, says what is expected: the allowed forms, or the longest duration.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let bad = || DURATION_FORMS.to_string();
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let unit_end =
            rest[num_end..].find(|c: char| c.is_ascii_digit() || c == '.').map_or(rest.len(), |i| num_end + i);
        let (num, unit) = (&rest[..num_end], &rest[num_end..unit_end]);
        let scale: f64 = match unit {
            "us" => 1.0,
            "ms" => 1e3,
            "s" => 1e6,
            "m" | "min" => 60e6,
            "h" => 3600e6,
            "d" => 86_400e6,
            _ => return Err(bad()),
        };
        let value: f64 = num.parse().map_err(|_| bad())?;
        total += value * scale;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() || total > MAX_DURATION.0 as f64 {
        return Err("a duration of at most 100000000000s (about 3,170 years)".to_string());
    }
    Ok(SimDuration(total.round() as u64))
}

/// What a duration may look like, for error messages.
pub const DURATION_FORMS: &str =
    "a duration such as \"250ms\", \"1.5s\", \"30m\", \"1h5m\" (units: us, ms, s, m, h, d)";

impl serde::Serialize for SimTime {
    /// Seconds, as a number.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_secs_f64())
    }
}

impl<'de> serde::Deserialize<'de> for SimTime {
    /// Seconds, as a number, back to the microsecond it was written from.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = <f64 as serde::Deserialize>::deserialize(d)?;
        Ok(SimTime((secs * 1e6).round() as u64))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn human_durations_read_as_people_write_them() {
        let us = SimDuration;
        assert_eq!(us(400).human(), "400µs");
        assert_eq!(us(350_400).human(), "350ms");
        assert_eq!(us(4_031_600).human(), "4.03s");
        assert_eq!(us(31_240_000).human(), "31.2s");
        assert_eq!(us(245_400_000).human(), "4m5s");
        assert_eq!(SimDuration::from_secs(4431).human(), "1h13m51s");
        assert_eq!(SimDuration::from_secs(2 * 86_400 + 3 * 3600 + 4 * 60 + 59).human(), "2d3h4m");
    }

    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(SimDuration(250_000)));
        assert_eq!(parse_duration("1.5s"), Ok(SimDuration(1_500_000)));
        assert_eq!(parse_duration("2h"), Ok(SimDuration::from_secs(7200)));
        assert_eq!(parse_duration("30m"), Ok(SimDuration::from_secs(1800)));
        assert_eq!(parse_duration("1h5m"), Ok(SimDuration::from_secs(3900)));
        assert_eq!(parse_duration("2m30s"), Ok(SimDuration::from_secs(150)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999h").unwrap_err().contains("at most"), "the limit is named");
        assert_eq!(parse_duration("100000000000s"), Ok(MAX_DURATION));
    }

    #[test]
    fn durations_display_in_their_shortest_exact_form() {
        assert_eq!(SimDuration::from_millis(250).to_string(), "250ms");
        assert_eq!(SimDuration::from_millis(1500).to_string(), "1.500s");
        assert_eq!(SimDuration::from_secs(7200).to_string(), "2h");
        assert_eq!(SimDuration::from_secs(3900).to_string(), "1h5m");
        assert_eq!(SimDuration::from_secs(7201).to_string(), "2h1s");
        assert_eq!(SimDuration(10_801_003_000).to_string(), "3h0m1.003s", "exact, and readable");
        assert_eq!(parse_duration("3h0m1.003s"), Ok(SimDuration(10_801_003_000)), "and it reads back");
        assert_eq!(SimDuration(61_500_000).to_string(), "1m1.500s");
        assert_eq!(SimTime(12_004_000).to_string(), "12.004s");
        // Past a minute, exact and readable (issue 11: "4431.171402s").
        assert_eq!(SimTime(4_431_171_402).to_string(), "1h13m51.171402s");
        assert_eq!(SimTime(245_004_000).to_string(), "4m5.004s");
        assert_eq!(SimTime(2 * 86_400_000_000 + 3 * 3_600_000_000 + 5_000_000).to_string(), "2d3h0m5.000s");
    }
}
