//! A small binary encoding for files keeper-tui keeps for itself (the
//! rollup): LEB128 integers, length-prefixed bytes, and a reader that
//! answers `None` for anything short or out of range, so a truncated or
//! garbage file is refused rather than trusted.

#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u64(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    /// Zig-zag, so small negative numbers stay short.
    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
}

pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { rest: buf }
    }

    /// What is left to read.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn u64(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            let part = u64::from(byte & 0x7f);
            if shift == 63 && part > 1 {
                return None;
            }
            v |= part << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub fn i64(&mut self) -> Option<i64> {
        let z = self.u64()?;
        Some((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    pub fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.u64()?).ok()
    }

    /// A count of items each at least `min_bytes` long: refused when the
    /// rest of the buffer could not hold that many, so a garbage length
    /// never reserves gigabytes.
    pub fn len(&mut self, min_bytes: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n.checked_mul(min_bytes.max(1))? <= self.rest.len()).then_some(n)
    }

    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len(1)?;
        let (b, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(b)
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms, which a file name
/// or a checksum written to disk needs (std's hashers promise neither).
pub(crate) fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Parts are separated, so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_at_their_edges() {
        let us = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        let is = [0, 1, -1, 63, -64, 64, i64::MIN, i64::MAX];
        let mut w = Writer::default();
        for &u in &us {
            w.u64(u);
        }
        for &i in &is {
            w.i64(i);
        }
        w.bytes(b"kind");
        let mut r = Reader::new(&w.buf);
        for &u in &us {
            assert_eq!(r.u64(), Some(u));
        }
        for &i in &is {
            assert_eq!(r.i64(), Some(i));
        }
        assert_eq!(r.bytes(), Some(&b"kind"[..]));
        assert!(r.is_empty());
        assert_eq!(r.u64(), None);
    }

    #[test]
    fn short_or_overlong_input_is_refused() {
        assert_eq!(Reader::new(&[0x80]).u64(), None);
        assert_eq!(Reader::new(&[0xff; 11]).u64(), None);
        // A length longer than what is left.
        assert_eq!(Reader::new(&[5, b'a']).bytes(), None);
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0x7f]).len(8), None);
    }

    #[test]
    fn the_hash_separates_parts_and_is_stable() {
        assert_ne!(fnv64(&[b"ab", b"c"]), fnv64(&[b"a", b"bc"]));
        assert_eq!(fnv64(&[b""]), fnv64(&[b""]));
        assert_eq!(fnv64(&[]), 0xcbf2_9ce4_8422_2325);
    }
}
