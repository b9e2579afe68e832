//! Bounds-checked reads: every helper returns `None` instead of indexing past the end.

fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

pub(crate) fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_be_bytes)
}

pub(crate) fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_be_bytes)
}

pub(crate) fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_be_bytes)
}

pub(crate) fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_le_bytes)
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_le_bytes)
}

pub(crate) fn fourcc(b: &[u8], at: usize) -> Option<[u8; 4]> {
    array(b, at)
}

/// `units * 1000 / per_second`, saturating at `u64::MAX`; `None` for a zero rate.
pub(crate) fn to_ms(units: u128, per_second: u128) -> Option<u64> {
    if per_second == 0 {
        return None;
    }
    let ms = units.saturating_mul(1000) / per_second;
    Some(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let b = [1u8, 2, 3];
        assert_eq!(be_u16(&b, 1), Some(0x0203));
        assert_eq!(be_u16(&b, 2), None);
        assert_eq!(be_u32(&b, 0), None);
        assert_eq!(le_u64(&b, usize::MAX), None);
        assert_eq!(u8_at(&b, 3), None);
    }

    #[test]
    fn ms_conversion() {
        assert_eq!(to_ms(48_000, 48_000), Some(1000));
        assert_eq!(to_ms(1, 0), None);
        assert_eq!(to_ms(u128::MAX, 1), Some(u64::MAX));
    }
}
