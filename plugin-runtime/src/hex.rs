//! Lowercase hex without allocating: request ids, trace and span ids.

/// Writes `bytes` into `out` as lowercase hex, two digits a byte, as far as `out` has room.
pub(crate) fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_lowercase_digits_a_byte() {
        let mut out = [b'.'; 6];
        super::write_hex(&[0x00, 0xab, 0x7f, 0xff], &mut out);
        assert_eq!(&out, b"00ab7f");
    }
}
