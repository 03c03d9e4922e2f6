//! Time-based one-time passwords (RFC 6238) for staff sign-in: HMAC-SHA1, 6 digits, 30-second
//! steps, the current step ±1 accepted, secrets shown as RFC 4648 base32 and as an `otpauth://`
//! URI. Pure functions: the caller passes the time.

use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha1::Sha1;

/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Seconds per time step.
pub const PERIOD_SECS: i64 = 30;
/// Secret length: 160 bits, the HMAC-SHA1 block-size recommendation of RFC 4226.
pub const SECRET_BYTES: usize = 20;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new random 160-bit secret.
pub fn new_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// RFC 4648 base32, upper case, without padding (what authenticator apps expect).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32 as people type it: any case, spaces and `=` padding ignored. `None` on any
/// other character or on leftover bits that are not zero.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let c = c.to_ascii_uppercase();
        let v = ALPHABET.iter().position(|&a| char::from(a) == c)? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    (buffer == 0).then_some(out)
}

/// The time step of a moment given in Unix milliseconds.
pub fn step_at(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(1000).div_euclid(PERIOD_SECS)
}

/// HOTP (RFC 4226) value of `counter` with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(digits)
}

/// The 6-digit code of a time step, zero-padded.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step.max(0) as u64, DIGITS),
        width = DIGITS as usize
    )
}

/// Checks `code` at `now_ms`, allowing one step of clock drift either way. Returns the step it
/// matched, only if that step is later than `last_step` (a code is good once). Spaces in the code
/// are ignored; every candidate is compared in constant time.
pub fn verify(secret: &[u8], code: &str, now_ms: i64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(now_ms);
    let mut matched = None;
    for step in [now - 1, now, now + 1] {
        if super::crypto::ct_eq(&code_at_step(secret, step), &code)
            && last_step.is_none_or(|last| step > last)
        {
            matched = Some(step);
        }
    }
    matched
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The enrolment URI authenticator apps read (Google's Key URI format).
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    format!(
        "otpauth://totp/{issuer_label}:{account}?secret={secret}&issuer={issuer_label}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        issuer_label = pct(issuer),
        account = pct(account),
        secret = pct(secret_base32),
    )
}

/// The secret in groups of four characters, easier to type.
pub fn grouped(secret_base32: &str) -> String {
    secret_base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://` URI as a QR code, an inline SVG element (black on white with the quiet zone
/// scanners need), for authenticator apps to scan; `None` when the URI is too long to encode.
pub fn qr_svg(uri: &str) -> Option<String> {
    use qrcode::render::svg;
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The renderer writes a standalone document; inside HTML only the element is wanted.
    let start = svg.find("<svg")?;
    Some(svg[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        for (t, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let step = step_at(t * 1000);
            assert_eq!(
                format!("{:08}", hotp(RFC_SECRET, step as u64, 8)),
                eight,
                "t={t}"
            );
            assert_eq!(code_at_step(RFC_SECRET, step), &eight[2..], "t={t}");
        }
    }

    #[test]
    fn rfc4648_base32_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("MZXW6YQ=").unwrap(), b"foob");
        assert_eq!(base32_decode("mzxw 6ytb oi").unwrap(), b"foobar");
        assert!(base32_decode("MZXW1").is_none(), "1 is not base32");
        assert!(base32_decode("MZ").is_none(), "non-zero leftover bits");
        assert_eq!(
            base32_encode(RFC_SECRET),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn new_secrets_are_160_bits_and_32_characters() {
        let a = new_secret();
        assert_eq!(a.len(), 20);
        assert_eq!(base32_encode(&a).len(), 32);
        assert_ne!(a, new_secret());
    }

    #[test]
    fn verify_accepts_one_step_of_drift_once() {
        let now = 1_111_111_111_000;
        let step = step_at(now);
        let code = code_at_step(RFC_SECRET, step);
        assert_eq!(verify(RFC_SECRET, &code, now, None), Some(step));
        assert_eq!(verify(RFC_SECRET, &code, now + 30_000, None), Some(step));
        assert_eq!(verify(RFC_SECRET, &code, now - 30_000, None), Some(step));
        assert_eq!(verify(RFC_SECRET, &code, now + 60_000, None), None);
        assert_eq!(verify(RFC_SECRET, &code, now, Some(step)), None, "replay");
        assert_eq!(verify(RFC_SECRET, &code, now, Some(step - 1)), Some(step));
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(verify(RFC_SECRET, &spaced, now, None), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "+12345"] {
            assert_eq!(verify(RFC_SECRET, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn the_qr_code_is_one_svg_element() {
        let svg = qr_svg(&otpauth_uri(
            "Acme Support",
            "dana@acme.com",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        ))
        .expect("fits");
        assert!(svg.starts_with("<svg"), "{svg:.60}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
        assert!(
            qr_svg(&"x".repeat(5000)).is_none(),
            "too long for any QR version"
        );
    }

    #[test]
    fn otpauth_uri_is_percent_encoded() {
        assert_eq!(
            otpauth_uri("Acme Support", "dana+ops@acme.com", "GEZDGNBV"),
            "otpauth://totp/Acme%20Support:dana%2Bops%40acme.com?secret=GEZDGNBV&issuer=Acme%20Support&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
