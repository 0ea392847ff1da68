//! A bounds-checked little-endian reader over an event's bytes: every read either succeeds or
//! names what was cut short, so no input can make the decoder index out of range.

use super::error::DecodeError;

/// Reads fields front to back from a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    /// Names the structure being read, for the error when it is cut short.
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, what }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Everything not read yet, consuming it.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err(DecodeError::Truncated {
                what: self.what,
                needed: n,
                available: self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// An unsigned little-endian integer of `n` bytes (1..=8).
    pub(crate) fn uint(&mut self, n: usize) -> Result<u64, DecodeError> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(self.uint(2)? as u16)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(self.uint(4)? as u32)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        self.uint(8)
    }

    /// The protocol's length-encoded integer (`0xfc` + 2 bytes, `0xfd` + 3, `0xfe` + 8).
    pub(crate) fn lenenc(&mut self) -> Result<u64, DecodeError> {
        match self.u8()? {
            0xfc => self.uint(2),
            0xfd => self.uint(3),
            0xfe => self.uint(8),
            // 0xfb is NULL in result sets; in events it never appears, read it as its value.
            small => Ok(u64::from(small)),
        }
    }

    /// A length-encoded count that must fit in memory: larger than what is left is malformed.
    pub(crate) fn lenenc_len(&mut self) -> Result<usize, DecodeError> {
        let n = self.lenenc()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len().saturating_mul(8).saturating_add(8))
            .ok_or_else(|| DecodeError::Malformed {
                what: self.what,
                detail: format!("a length of {n} where {} bytes are left", self.bytes.len()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_lenenc_and_stops_at_the_end() {
        let bytes = [0x34, 0x12, 0xfc, 0x00, 0x01, 0x05, 0xaa];
        let mut c = Cursor::new(&bytes, "test");
        assert_eq!(c.u16().unwrap(), 0x1234);
        assert_eq!(c.lenenc().unwrap(), 256);
        assert_eq!(c.lenenc().unwrap(), 5);
        assert_eq!(c.remaining(), 1);
        let err = c.u32().unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Truncated {
                    needed: 4,
                    available: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(c.rest(), &[0xaa]);
        assert!(c.is_empty());
    }
}
