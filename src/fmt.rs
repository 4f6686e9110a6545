//! Numbers for people: significant digits, one notation, no `0e0`.

/// `x` with at most 4 significant digits: plain between 0.001 and 100 000,
/// otherwise `1.23e-7` style; 0 is `0`, NaN is `NaN`, infinities are `∞`, `−∞`.
pub fn num(x: f64) -> String {
    sig(x, 4)
}

/// `x` with at most `digits` significant digits (trailing zeros dropped).
pub fn sig(x: f64, digits: usize) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if x == 0.0 {
        return "0".into();
    }
    let digits = digits.max(1);
    let a = x.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{:.*e}", digits - 1, x);
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = trim(mant);
        return format!("{mant}e{exp}").replace('-', "−");
    }
    let mag = a.log10().floor() as i32;
    let decimals = (digits as i32 - 1 - mag).max(0) as usize;
    let s = format!("{:.*}", decimals, x);
    trim(&s).replace('-', "−")
}

fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// An interval as text: `[lo, hi]`.
pub fn interval(lo: f64, hi: f64) -> String {
    format!("[{}, {}]", num(lo), num(hi))
}

/// A share as a percentage with at most 3 significant digits: `71%`, `0.5%`.
pub fn percent(x: f64) -> String {
    format!("{}%", sig(100.0 * x, 3))
}

/// "1 thread", "2 threads".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(0.0003333333333333333), "3.333e−4");
        assert_eq!(num(1e-9), "1e−9");
        assert_eq!(num(0.95), "0.95");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(153.2737), "153.3");
        assert_eq!(num(-0.024), "−0.024");
        assert_eq!(num(2.4e-7), "2.4e−7");
        assert_eq!(num(3_152_384.0), "3.152e6");
        assert_eq!(sig(0.99971, 3), "1");
        assert_eq!(percent(0.714), "71.4%");
        assert_eq!(plural(1, "thread", "threads"), "1 thread");
        assert_eq!(num(f64::INFINITY), "∞");
    }
}
