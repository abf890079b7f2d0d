//! Exact integer arithmetic: fixed-point decimals and a rounded `a × b / d` without overflow.

/// Parses a non-negative decimal with at most six decimals into millionths (`"1.25"` →
/// `1_250_000`). Returns a sentence saying what is wrong otherwise.
pub(crate) fn parse_micros(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(format!("`{text}` is not a number"));
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` is not a non-negative decimal number (digits, optionally a `.` and up to six decimals)"
        ));
    }
    if text.ends_with('.') {
        return Err(format!("`{text}` has a `.` but no decimals"));
    }
    if frac.len() > 6 {
        return Err(format!(
            "`{text}` has {} decimals; at most 6 are allowed",
            frac.len()
        ));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?
    };
    let mut frac_micros: u64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        frac_micros += u64::from(b - b'0') * 10u64.pow(5 - i as u32);
    }
    whole
        .checked_mul(1_000_000)
        .and_then(|w| w.checked_add(frac_micros))
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// `round_half_up(a × b / d)`, exact for all inputs (the product is computed in 256 bits).
/// `None` when `d` is zero or the result does not fit in a `u128`.
pub(crate) fn mul_div_half_up(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    let (hi, lo) = mul_wide(a, b);
    let (q, r) = div_wide(hi, lo, d)?;
    // r < d, so `r >= d - r` is `2r >= d` without overflow: half or more rounds up.
    if r >= d - r {
        q.checked_add(1)
    } else {
        Some(q)
    }
}

/// The 256-bit product of `a` and `b`, as (high, low) halves.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> 64, a & MASK);
    let (b_hi, b_lo) = (b >> 64, b & MASK);
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    // Sum the middle terms with carries.
    let mid = (ll >> 64) + (lh & MASK) + (hl & MASK);
    let lo = (ll & MASK) | (mid << 64);
    let hi = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    (hi, lo)
}

/// Divides the 256-bit number `hi:lo` by `d`: (quotient, remainder), `None` if the quotient
/// does not fit in a `u128`.
fn div_wide(hi: u128, lo: u128, d: u128) -> Option<(u128, u128)> {
    if hi == 0 {
        return Some((lo / d, lo % d));
    }
    if hi >= d {
        return None;
    }
    // Restoring long division, one bit of `lo` at a time; `rem < d` throughout.
    let mut rem = hi;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= d {
            rem = rem.wrapping_sub(d);
            q |= 1;
        }
    }
    Some((q, rem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals() {
        assert_eq!(parse_micros("1.25"), Ok(1_250_000));
        assert_eq!(parse_micros("3"), Ok(3_000_000));
        assert_eq!(parse_micros("0"), Ok(0));
        assert_eq!(parse_micros("0.000001"), Ok(1));
        assert_eq!(parse_micros(".5"), Ok(500_000));
        assert_eq!(parse_micros(" 12.340000 "), Ok(12_340_000));
        assert_eq!(parse_micros("007.1"), Ok(7_100_000));
    }

    #[test]
    fn rejects_bad_decimals() {
        for bad in [
            "",
            ".",
            "1.",
            "abc",
            "-1",
            "+1",
            "1.2.3",
            "1e3",
            "1,5",
            "0.0000001",
            "1 000",
        ] {
            assert!(parse_micros(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(
            parse_micros("0.1234567")
                .unwrap_err()
                .contains("7 decimals")
        );
        assert!(parse_micros("99999999999999999999").is_err());
        assert!(parse_micros("18446744073709.551616").is_err());
        assert_eq!(
            parse_micros("18446744073709.551615"),
            Ok(18_446_744_073_709_551_615)
        );
    }

    #[test]
    fn rounds_half_up() {
        assert_eq!(mul_div_half_up(1, 1, 2), Some(1)); // 0.5 -> 1
        assert_eq!(mul_div_half_up(1, 1, 3), Some(0)); // 0.333 -> 0
        assert_eq!(mul_div_half_up(2, 1, 3), Some(1)); // 0.667 -> 1
        assert_eq!(mul_div_half_up(5, 1, 2), Some(3)); // 2.5 -> 3
        assert_eq!(mul_div_half_up(7, 1, 2), Some(4)); // 3.5 -> 4
        assert_eq!(mul_div_half_up(149, 1, 100), Some(1)); // 1.49 -> 1
        assert_eq!(mul_div_half_up(150, 1, 100), Some(2)); // 1.50 -> 2
        assert_eq!(mul_div_half_up(0, 5, 7), Some(0));
        assert_eq!(mul_div_half_up(1, 1, 0), None);
    }

    #[test]
    fn wide_products_are_exact() {
        // (2^100 × 2^100) / 2^120 = 2^80: the product needs 201 bits.
        assert_eq!(mul_div_half_up(1 << 100, 1 << 100, 1 << 120), Some(1 << 80));
        let a = u128::MAX;
        assert_eq!(mul_div_half_up(a, a, a), Some(a));
        assert_eq!(mul_div_half_up(a, 3, 6), Some(a / 2 + 1)); // (2^128-1)/2 = x.5 -> up
        assert_eq!(mul_div_half_up(a, 2, 1), None);
        // Remainder handling with a divisor above 2^127.
        let d = (1u128 << 127) + 12345;
        let (hi, lo) = mul_wide(d - 1, 3);
        let (q, r) = div_wide(hi, lo, d).unwrap();
        assert_eq!(q, 2);
        assert_eq!(r, d - 3);
    }

    #[test]
    fn mul_wide_matches_small_products() {
        for (a, b) in [
            (0u128, 0u128),
            (1, u64::MAX as u128),
            (u64::MAX as u128, u64::MAX as u128),
        ] {
            assert_eq!(mul_wide(a, b), (0, a * b));
        }
        assert_eq!(mul_wide(1 << 127, 2), (1, 0));
        assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
    }
}
