//! A bounds-checked reader over a byte slice.
//!
//! Every parser of the codec reads untrusted bytes through [`ReadCursor`]:
//! each read returns a `Result`, nothing indexes a slice, and a parser ends
//! with [`ReadCursor::expect_empty`] so that trailing bytes are an error.

use thiserror::Error;

/// Reading past the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("input ends early: {needed} more octets needed, {remaining} left")]
pub struct Truncated {
    pub needed: usize,
    pub remaining: usize,
}

/// Cursor over untrusted input.
#[derive(Debug, Clone)]
pub struct ReadCursor<'a> {
    rest: &'a [u8],
}

impl<'a> ReadCursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Takes the next `n` octets.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(Truncated {
                needed: n,
                remaining: self.rest.len(),
            }),
        }
    }

    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let bytes = self.read_bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn read_u8(&mut self) -> Result<u8, Truncated> {
        let [b] = self.read_array::<1>()?;
        Ok(b)
    }

    pub fn read_u16_le(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_le_bytes(self.read_array()?))
    }

    pub fn read_i16_le(&mut self) -> Result<i16, Truncated> {
        Ok(i16::from_le_bytes(self.read_array()?))
    }

    /// A 3-octet little-endian unsigned integer (information object address).
    pub fn read_u24_le(&mut self) -> Result<u32, Truncated> {
        let [a, b, c] = self.read_array::<3>()?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }

    pub fn read_u32_le(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_le_bytes(self.read_array()?))
    }

    pub fn read_i32_le(&mut self) -> Result<i32, Truncated> {
        Ok(i32::from_le_bytes(self.read_array()?))
    }

    pub fn read_f32_le(&mut self) -> Result<f32, Truncated> {
        Ok(f32::from_le_bytes(self.read_array()?))
    }

    /// Succeeds when every octet was read; otherwise gives the count left.
    pub fn expect_empty(&self) -> Result<(), usize> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.rest.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_integers_in_order() {
        let mut c = ReadCursor::new(&[1, 0x34, 0x12, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(c.read_u8(), Ok(1));
        assert_eq!(c.read_u16_le(), Ok(0x1234));
        assert_eq!(c.read_u24_le(), Ok(0x123456));
        assert_eq!(c.read_i32_le(), Ok(-1));
        assert_eq!(c.expect_empty(), Ok(()));
    }

    #[test]
    fn reading_past_the_end_is_an_error_that_leaves_the_cursor() {
        let mut c = ReadCursor::new(&[1, 2]);
        assert_eq!(
            c.read_u24_le(),
            Err(Truncated {
                needed: 3,
                remaining: 2
            })
        );
        assert_eq!(c.remaining(), 2);
        assert_eq!(c.expect_empty(), Err(2));
    }
}
