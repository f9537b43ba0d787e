//! The primitive encodings message bodies are made of: LEB128 varints for
//! counts and sequence numbers, zigzag varints for signed numbers, eight
//! little-endian bytes for hashes and random ids (a varint of a random
//! 64-bit number is longer), length-prefixed byte strings and names, and the
//! application's address type through postcard (the one encoding the wire
//! does not define itself: the address is the application's type).

use serde::{Serialize, de::DeserializeOwned};

use super::packet::BufferFull;
use crate::error::DecodeError;

/// Longest LEB128 encoding of a `u64`.
const MAX_VARINT_LEN: usize = 10;

/// Reads a message body; every read fails with [`DecodeError::Malformed`]
/// when the bytes run out or a field is not what its type allows.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Fails unless every byte was read: a body longer than its fields is
    /// not this version's message.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Malformed)
        }
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.rest.len() {
            return Err(DecodeError::Malformed);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Malformed),
        }
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..MAX_VARINT_LEN {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte holds the 64th bit only.
            if i == MAX_VARINT_LEN - 1 && bits > 1 {
                return Err(DecodeError::Malformed);
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::Malformed)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        u16::try_from(self.varint()?).map_err(|_| DecodeError::Malformed)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        let zigzag = self.u32()?;
        Ok(((zigzag >> 1) as i32) ^ -((zigzag & 1) as i32))
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let bytes = self.take(8)?;
        let mut array = [0; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Malformed)?;
        self.take(len)
    }

    /// A name or other text; its length is checked by the caller.
    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        core::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::Malformed)
    }

    pub(crate) fn addr<A: DeserializeOwned>(&mut self) -> Result<A, DecodeError> {
        let (addr, rest) =
            postcard::take_from_bytes::<A>(self.rest).map_err(|_| DecodeError::Malformed)?;
        self.rest = rest;
        Ok(addr)
    }
}

/// Writes a message body into a slice; every write fails with
/// [`BufferFull`] when the slice has no room, leaving what was written.
#[derive(Debug)]
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
    /// Counts the bytes without writing them (see [`Writer::sizer`]).
    sizing: bool,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Writer {
            buf,
            len: 0,
            sizing: false,
        }
    }

    /// A writer that only counts what would be written, without limit.
    pub(crate) fn sizer() -> Writer<'static> {
        Writer {
            buf: &mut [],
            len: 0,
            sizing: true,
        }
    }

    /// Bytes written.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<(), BufferFull> {
        if self.sizing {
            self.len += bytes.len();
            return Ok(());
        }
        let end = self.len + bytes.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(BufferFull)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, value: u8) -> Result<(), BufferFull> {
        self.raw(&[value])
    }

    pub(crate) fn bool(&mut self, value: bool) -> Result<(), BufferFull> {
        self.u8(u8::from(value))
    }

    pub(crate) fn varint(&mut self, value: u64) -> Result<(), BufferFull> {
        let mut encoded = [0; MAX_VARINT_LEN];
        let len = encode_varint(value, &mut encoded);
        self.raw(&encoded[..len])
    }

    pub(crate) fn i32(&mut self, value: i32) -> Result<(), BufferFull> {
        let zigzag = ((value << 1) ^ (value >> 31)) as u32;
        self.varint(zigzag.into())
    }

    pub(crate) fn fixed64(&mut self, value: u64) -> Result<(), BufferFull> {
        self.raw(&value.to_le_bytes())
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), BufferFull> {
        self.varint(bytes.len() as u64)?;
        self.raw(bytes)
    }

    pub(crate) fn str(&mut self, text: &str) -> Result<(), BufferFull> {
        self.bytes(text.as_bytes())
    }

    pub(crate) fn addr<A: Serialize>(&mut self, addr: &A) -> Result<(), BufferFull> {
        if self.sizing {
            self.len += postcard::experimental::serialized_size(addr).map_err(|_| BufferFull)?;
            return Ok(());
        }
        let written = postcard::to_slice(addr, &mut self.buf[self.len..])
            .map_err(|_| BufferFull)?
            .len();
        self.len += written;
        Ok(())
    }
}

/// Writes `value` as a LEB128 varint into `out`; returns its length.
pub(crate) fn encode_varint(mut value: u64, out: &mut [u8; MAX_VARINT_LEN]) -> usize {
    let mut len = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[len] = byte;
            return len + 1;
        }
        out[len] = byte | 0x80;
        len += 1;
    }
}

/// Length of `value` as a LEB128 varint.
pub(crate) fn varint_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_their_edges() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u32::MAX.into(), u64::MAX] {
            let mut buf = [0; 16];
            let mut writer = Writer::new(&mut buf);
            writer.varint(value).unwrap();
            let len = writer.len();
            assert_eq!(len, varint_len(value), "{value}");
            let mut reader = Reader::new(&buf[..len]);
            assert_eq!(reader.varint(), Ok(value));
            reader.finish().unwrap();
        }
    }

    #[test]
    fn overlong_and_cut_varints_are_malformed() {
        let eleven = [0xff; 11];
        assert_eq!(
            Reader::new(&eleven).varint(),
            Err(DecodeError::Malformed),
            "more than ten bytes"
        );
        let mut past_64_bits = [0xff; 10];
        past_64_bits[9] = 0x02;
        assert_eq!(
            Reader::new(&past_64_bits).varint(),
            Err(DecodeError::Malformed)
        );
        assert_eq!(Reader::new(&[0x80]).varint(), Err(DecodeError::Malformed));
        let big = [0x80, 0x80, 0x80, 0x80, 0x10];
        assert_eq!(
            Reader::new(&big).u32(),
            Err(DecodeError::Malformed),
            "2^32 is no u32"
        );
    }

    #[test]
    fn signed_numbers_are_zigzagged() {
        for (value, bytes) in [
            (0, &[0][..]),
            (-1, &[1]),
            (1, &[2]),
            (-64, &[127]),
            (64, &[128, 1]),
        ] {
            let mut buf = [0; 8];
            let mut writer = Writer::new(&mut buf);
            writer.i32(value).unwrap();
            let len = writer.len();
            assert_eq!(&buf[..len], bytes, "{value}");
            assert_eq!(Reader::new(bytes).i32(), Ok(value));
        }
        let mut buf = [0; 8];
        for value in [i32::MIN, i32::MAX] {
            let mut writer = Writer::new(&mut buf);
            writer.i32(value).unwrap();
            let len = writer.len();
            assert_eq!(Reader::new(&buf[..len]).i32(), Ok(value));
        }
    }

    #[test]
    fn booleans_are_zero_or_one() {
        assert_eq!(Reader::new(&[1]).bool(), Ok(true));
        assert_eq!(Reader::new(&[2]).bool(), Err(DecodeError::Malformed));
    }

    #[test]
    fn byte_strings_cannot_claim_more_than_is_there() {
        assert_eq!(Reader::new(&[5, 1, 2]).bytes(), Err(DecodeError::Malformed));
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&huge).bytes(), Err(DecodeError::Malformed));
        assert_eq!(
            Reader::new(&[2, 0xc3, 0x28]).str(),
            Err(DecodeError::Malformed),
            "not UTF-8"
        );
    }

    #[test]
    fn a_writer_without_room_says_so() {
        let mut buf = [0; 3];
        let mut writer = Writer::new(&mut buf);
        assert_eq!(writer.bytes(b"abc"), Err(BufferFull));
        assert_eq!(writer.fixed64(1), Err(BufferFull));
    }
}
