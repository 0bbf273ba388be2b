//! NaN through JSON: serde_json writes a non-finite f64 as `null` (JSON has no NaN) but
//! refuses `null` for an f64 on the way back. These `deserialize_with` helpers read
//! `null` as NaN, so `report.json` (diverged runs, single-seed intervals) parses back
//! into `StudyResults`.

use serde::{Deserialize, Deserializer};

/// An f64 that may be `null` (read as NaN).
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// `(x, y)` points whose values may be `null`.
pub fn curve<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(f64, f64)>, D::Error> {
    let v = Vec::<(Option<f64>, Option<f64>)>::deserialize(d)?;
    let nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
    Ok(v.into_iter().map(|(x, y)| (nan(x), nan(y))).collect())
}

/// A vector of f64 whose values may be `null`.
pub fn vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v = Vec::<Option<f64>>::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

/// Rows of f64 whose values may be `null`.
pub fn rows<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
    let v = Vec::<Vec<Option<f64>>>::deserialize(d)?;
    let row = |r: Vec<Option<f64>>| r.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect();
    Ok(v.into_iter().map(row).collect())
}

/// `(seed, value)` pairs whose values may be `null`.
pub fn seeded<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(u64, f64)>, D::Error> {
    let v = Vec::<(u64, Option<f64>)>::deserialize(d)?;
    Ok(v.into_iter()
        .map(|(s, x)| (s, x.unwrap_or(f64::NAN)))
        .collect())
}
