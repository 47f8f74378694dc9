//! Go `time.Duration` strings (`4m0s`, `8760h`, `500ms`) as kubeadm's YAML uses them.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    pub const fn from_secs(s: u64) -> Self {
        GoDuration(Duration::from_secs(s))
    }
    pub const fn from_hours(h: u64) -> Self {
        GoDuration(Duration::from_secs(h * 3600))
    }
    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// Parses Go's duration syntax: a sequence of `<number><unit>` with units
    /// ns, us, µs, ms, s, m, h; "0" alone is allowed. Negative values are refused.
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || format!("`{s}` is not a duration (use Go syntax such as 90s, 4m0s, 8760h)");
        if s == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if s.is_empty() || s.starts_with('-') {
            return Err(err());
        }
        let s_body = s.strip_prefix('+').unwrap_or(s);
        let mut total: f64 = 0.0;
        let mut rest = s_body;
        while !rest.is_empty() {
            let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
            if num_end == 0 {
                return Err(err());
            }
            let value: f64 = rest[..num_end].parse().map_err(|_| err())?;
            rest = &rest[num_end..];
            let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let nanos_per = match &rest[..unit_end] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(err()),
            };
            total += value * nanos_per;
            rest = &rest[unit_end..];
        }
        if total > u64::MAX as f64 {
            return Err(err());
        }
        Ok(GoDuration(Duration::from_nanos(total.round() as u64)))
    }
}

/// Formats like Go's `Duration.String()`: `8760h0m0s`, `4m0s`, `1.5s`, `500ms`, `0s`.
impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000_000_000 {
            let (v, unit) = if nanos < 1_000 {
                return write!(f, "{nanos}ns");
            } else if nanos < 1_000_000 {
                (nanos as f64 / 1e3, "µs")
            } else {
                (nanos as f64 / 1e6, "ms")
            };
            return write!(f, "{}{unit}", trim_float(v));
        }
        let total_secs = self.0.as_secs();
        let h = total_secs / 3600;
        let m = (total_secs % 3600) / 60;
        let s = total_secs % 60;
        let frac = self.0.subsec_nanos();
        let secs = if frac == 0 { format!("{s}") } else { trim_float(s as f64 + frac as f64 / 1e9) };
        if h > 0 {
            write!(f, "{h}h{m}m{secs}s")
        } else if m > 0 {
            write!(f, "{m}m{secs}s")
        } else {
            write!(f, "{secs}s")
        }
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GoDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GoDuration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A Go duration such as 90s, 4m0s or 8760h.",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_like_go() {
        for (input, secs, shown) in [
            ("4m", 240, "4m0s"),
            ("4m0s", 240, "4m0s"),
            ("8760h", 8760 * 3600, "8760h0m0s"),
            ("87600h0m0s", 87600 * 3600, "87600h0m0s"),
            ("1h30m", 5400, "1h30m0s"),
            ("0s", 0, "0s"),
            ("0", 0, "0s"),
        ] {
            let d = GoDuration::parse(input).unwrap();
            assert_eq!(d.0.as_secs(), secs, "{input}");
            assert_eq!(d.to_string(), shown, "{input}");
        }
        assert_eq!(GoDuration::parse("500ms").unwrap().to_string(), "500ms");
        assert_eq!(GoDuration::parse("1.5s").unwrap().0.as_millis(), 1500);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "5", "-1s", "4 m", "1d", "m", "1.2.3s"] {
            assert!(GoDuration::parse(bad).is_err(), "{bad} should fail");
        }
    }
}
