//! LZF decompression, for strings Redis stored compressed (`rdbcompression yes`, the default).
//!
//! The format is a sequence of runs. A control byte `c < 32` starts a literal run of `c + 1`
//! bytes; otherwise the top three bits give a back-reference length (`7` means "read one more
//! byte and add it"), and the low five bits with the next byte give the distance back.

/// Decompresses `input` into exactly `out_len` bytes, or `None` if the data is malformed.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            out.extend_from_slice(input.get(i..i + n)?);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1F) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            // Byte by byte: the reference may overlap what it produces.
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > out_len {
            return None;
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::decompress;

    #[test]
    fn literal_and_back_reference() {
        // "abcabcabc": literal "abc" (ctrl 2), then a back-reference of length 6 at distance 3:
        // ctrl = (6-2)<<5 | ((3-1)>>8) = 0x80, next byte (3-1)&0xff = 2.
        let data = [2, b'a', b'b', b'c', 0x80, 2];
        assert_eq!(decompress(&data, 9).as_deref(), Some(&b"abcabcabc"[..]));
        assert_eq!(decompress(&data, 8), None);
        assert_eq!(decompress(&[0x80, 5], 4), None, "reference before the start");
    }
}
