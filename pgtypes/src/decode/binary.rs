//! PostgreSQL binary (`*recv`) formats of bind parameters.

use super::datetime::{PG_EPOCH_DAYS, PG_EPOCH_USECS};
use super::num::{DecimalParts, decimal_to_i128, numeric_overflow, pow10_i128};
use super::{DecodeError, ScalarLike, oids};

fn bad_format() -> DecodeError {
    DecodeError::new("22P03", "incorrect binary data format".to_string())
}

fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N], DecodeError> {
    b.try_into().map_err(|_| bad_format())
}

/// Rescale an unscaled decimal from `from` to `to` fraction digits (half away from zero).
pub(crate) fn rescale_i128(v: i128, from: i64, to: i64) -> Option<i128> {
    if to >= from {
        let k = to - from;
        if k > 38 {
            return if v == 0 { Some(0) } else { None };
        }
        v.checked_mul(pow10_i128(k as u32))
    } else {
        let k = from - to;
        if k > 38 {
            return Some(0);
        }
        let p = pow10_i128(k as u32);
        let q = v / p;
        let r = (v % p).abs();
        // half away from zero: compare 2r with p without overflow
        let up = r >= p - r;
        Some(if up {
            if v < 0 { q - 1 } else { q + 1 }
        } else {
            q
        })
    }
}

/// `numeric_recv` → (unscaled value, scale). NaN/±Infinity cannot be stored in Decimal128.
fn numeric_recv(b: &[u8]) -> Result<ScalarLike, DecodeError> {
    if b.len() < 8 {
        return Err(bad_format());
    }
    let ndigits = i16::from_be_bytes([b[0], b[1]]);
    let weight = i16::from_be_bytes([b[2], b[3]]) as i64;
    let sign = u16::from_be_bytes([b[4], b[5]]);
    let dscale = u16::from_be_bytes([b[6], b[7]]) as i64;
    if ndigits < 0 || b.len() != 8 + 2 * ndigits as usize {
        return Err(bad_format());
    }
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => {
            return Err(DecodeError::new(
                "0A000",
                "NaN cannot be stored in a numeric column with a fixed precision".to_string(),
            ));
        }
        0xD000 | 0xF000 => return Err(numeric_overflow()),
        _ => {
            return Err(DecodeError::new(
                "22P03",
                "invalid sign in external \"numeric\" value".to_string(),
            ));
        }
    }
    if dscale > 0x3FFF {
        return Err(DecodeError::new(
            "22P03",
            "invalid scale in external \"numeric\" value".to_string(),
        ));
    }
    // Expand the base-10000 digits to decimal digits and round to min(dscale, 38).
    let mut digits = Vec::with_capacity(4 * ndigits as usize);
    for k in 0..ndigits as usize {
        let d = u16::from_be_bytes([b[8 + 2 * k], b[9 + 2 * k]]);
        if d >= 10000 {
            return Err(DecodeError::new(
                "22P03",
                "invalid digit in external \"numeric\" value".to_string(),
            ));
        }
        digits.extend_from_slice(&[
            b'0' + (d / 1000) as u8,
            b'0' + (d / 100 % 10) as u8,
            b'0' + (d / 10 % 10) as u8,
            b'0' + (d % 10) as u8,
        ]);
    }
    // The digits have an implicit scale of 4 * (ndigits - 1 - weight).
    let implicit = 4 * (ndigits as i64 - 1 - weight);
    let parts = DecimalParts {
        neg: sign == 0x4000,
        digits,
        frac_len: implicit.max(0),
        exp: (-implicit).max(0),
    };
    let target = dscale.min(38);
    let v = decimal_to_i128(&parts, 38, target as i8).ok_or_else(numeric_overflow)?;
    Ok(ScalarLike::Decimal(v, target as i8))
}

/// Decode a binary-format value of PostgreSQL type `oid` into a [`ScalarLike`] of the
/// type's natural kind (ints → `I64`, floats → `F64`, text-like → `Str`, ...).
pub(crate) fn decode_binary(b: &[u8], oid: u32) -> Result<ScalarLike, DecodeError> {
    Ok(match oid {
        oids::BOOL => ScalarLike::Bool(fixed::<1>(b)?[0] != 0),
        oids::BYTEA => ScalarLike::Bytes(b.to_vec()),
        oids::INT2 => ScalarLike::I64(i16::from_be_bytes(fixed(b)?) as i64),
        oids::INT4 => ScalarLike::I64(i32::from_be_bytes(fixed(b)?) as i64),
        oids::INT8 => ScalarLike::I64(i64::from_be_bytes(fixed(b)?)),
        oids::OID => ScalarLike::I64(i64::from(u32::from_be_bytes(fixed(b)?))),
        oids::FLOAT4 => ScalarLike::F64(f32::from_be_bytes(fixed(b)?) as f64),
        oids::FLOAT8 => ScalarLike::F64(f64::from_be_bytes(fixed(b)?)),
        oids::TEXT | oids::VARCHAR | oids::UNKNOWN | oids::BPCHAR | oids::NAME | oids::JSON => {
            ScalarLike::Str(
                std::str::from_utf8(b)
                    .map_err(|_| super::invalid_utf8(b))?
                    .to_string(),
            )
        }
        oids::JSONB => {
            if b.first() != Some(&1) {
                return Err(DecodeError::new(
                    "22P03",
                    "unsupported jsonb version number".to_string(),
                ));
            }
            ScalarLike::Str(
                std::str::from_utf8(&b[1..])
                    .map_err(|_| super::invalid_utf8(&b[1..]))?
                    .to_string(),
            )
        }
        oids::DATE => {
            let d = i32::from_be_bytes(fixed(b)?);
            ScalarLike::Date(match d {
                i32::MAX | i32::MIN => d,
                _ => {
                    let v = d as i64 + PG_EPOCH_DAYS;
                    i32::try_from(v)
                        .ok()
                        .filter(|v| *v != i32::MAX)
                        .ok_or_else(|| DecodeError::new("22008", "date out of range".to_string()))?
                }
            })
        }
        oids::TIMESTAMP | oids::TIMESTAMPTZ => {
            let t = i64::from_be_bytes(fixed(b)?);
            let v = match t {
                i64::MAX | i64::MIN => t,
                _ => t
                    .checked_add(PG_EPOCH_USECS)
                    .filter(|v| *v != i64::MAX)
                    .ok_or_else(|| {
                        DecodeError::new("22008", "timestamp out of range".to_string())
                    })?,
            };
            if oid == oids::TIMESTAMP {
                ScalarLike::TimestampMicros(v)
            } else {
                ScalarLike::TimestamptzMicros(v)
            }
        }
        oids::INTERVAL => {
            let a: [u8; 16] = fixed(b)?;
            let usecs = i64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
            let days = i32::from_be_bytes([a[8], a[9], a[10], a[11]]);
            let months = i32::from_be_bytes([a[12], a[13], a[14], a[15]]);
            let nanos = usecs
                .checked_mul(1000)
                .ok_or_else(|| DecodeError::new("22008", "interval out of range".to_string()))?;
            ScalarLike::IntervalMDN {
                months,
                days,
                nanos,
            }
        }
        oids::NUMERIC => numeric_recv(b)?,
        _ => {
            return Err(DecodeError::new(
                "42883",
                format!("no binary input function available for type with OID {oid}"),
            ));
        }
    })
}
