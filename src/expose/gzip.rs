//! gzip assembled from pieces compressed once and reused.
//!
//! The exposition changes one account at a time, so it is compressed one
//! account (and one metric family) at a time: each [`Piece`] is raw deflate
//! ended with a sync flush, which leaves it byte-aligned and not final, and
//! holds no reference to data before it. Pieces can therefore be
//! concatenated in any order into one deflate stream (pigz does the same
//! across threads). A response is then one ordinary gzip member —
//! [`HEADER`], the pieces, and a [`trailer`] — readable by every gzip client,
//! not only by those that accept several members back to back.
//!
//! The trailer needs the CRC-32 of the whole uncompressed text. Each piece
//! carries its own CRC and the factor `x^(8·len) mod P` that shifts a CRC
//! past its bytes, so the CRCs of any sequence of pieces combine with one
//! carry-less multiplication per piece, without reading their data (zlib's
//! `crc32_combine_op`).

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

/// A gzip member header: deflate, no name, no mtime, unknown OS.
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final, empty deflate block with fixed codes: ends the stream.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// The CRC-32 polynomial (reflected), as in gzip and zlib.
const POLY: u32 = 0xedb8_8320;

/// `a · b mod P` over GF(2), both in CRC-32 bit order.
const fn multmodp(a: u32, mut b: u32) -> u32 {
    if a == 0 {
        return 0;
    }
    let mut m: u32 = 1 << 31;
    let mut p: u32 = 0;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    p
}

/// `x^(2^k) mod P` for k in 0..32.
const X2N: [u32; 32] = {
    let mut table = [0u32; 32];
    let mut p: u32 = 1 << 30; // x^1
    table[0] = p;
    let mut k = 1;
    while k < 32 {
        p = multmodp(p, p);
        table[k] = p;
        k += 1;
    }
    table
};

/// `x^(8·len) mod P`: multiplying a CRC by it appends `len` zero bytes.
fn shift_for(len: u64) -> u32 {
    let mut p: u32 = 1 << 31; // x^0
    let mut n = len;
    let mut k = 3; // 8 bits per byte
    while n != 0 {
        if n & 1 != 0 {
            p = multmodp(X2N[k % 32], p);
        }
        n >>= 1;
        k += 1;
    }
    p
}

/// A piece of text compressed on its own, with what is needed to place it
/// in a gzip member.
#[derive(Debug, Clone, Default)]
pub struct Piece {
    /// Raw deflate ending with a sync flush (empty for empty text).
    pub data: Bytes,
    /// CRC-32 of the uncompressed text.
    crc: u32,
    /// Length of the uncompressed text.
    len: u64,
    /// `x^(8·len) mod P`.
    shift: u32,
}

impl Piece {
    /// Length of the uncompressed text.
    pub fn text_len(&self) -> u64 {
        self.len
    }
}

/// CRC-32 and length of a sequence of pieces, built up piece by piece.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    pub crc: u32,
    pub len: u64,
}

impl Checksum {
    /// Appends a piece: `crc(A‖B) = crc(A)·x^(8·|B|) ⊕ crc(B)`.
    pub fn push(&mut self, piece: &Piece) {
        if piece.len == 0 {
            return;
        }
        self.crc = multmodp(piece.shift, self.crc) ^ piece.crc;
        self.len = self.len.wrapping_add(piece.len);
    }

    /// Appends the text another checksum stands for.
    pub fn append(&mut self, other: Checksum) {
        if other.len == 0 {
            return;
        }
        self.crc = multmodp(shift_for(other.len), self.crc) ^ other.crc;
        self.len = self.len.wrapping_add(other.len);
    }
}

/// The end of a gzip member: the final deflate block, then the CRC-32 and
/// the length (mod 2^32) of the whole text, little-endian.
pub fn trailer(sum: Checksum) -> Bytes {
    let mut out = Vec::with_capacity(10);
    out.extend_from_slice(&FINAL_BLOCK);
    out.extend_from_slice(&sum.crc.to_le_bytes());
    // ISIZE is the length modulo 2^32 by definition (RFC 1952).
    out.extend_from_slice(&(sum.len as u32).to_le_bytes());
    Bytes::from(out)
}

/// Compresses pieces, reusing one deflate state (its tables are large).
pub struct Compressor {
    deflate: Compress,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor::new()
    }
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor").finish_non_exhaustive()
    }
}

impl Compressor {
    /// The fast level: the exposition still shrinks about fourfold, and a
    /// piece is compressed once per change of its account.
    pub fn new() -> Compressor {
        Compressor {
            deflate: Compress::new(Compression::fast(), false),
        }
    }

    /// Compresses `text` as an independent piece.
    pub fn piece(&mut self, text: &[u8]) -> Piece {
        self.pieces(&[text]).pop().unwrap_or_default()
    }

    /// Compresses each of `texts` as an independent piece, all into one
    /// buffer that the pieces share: an account's families are kept until
    /// the account changes, and one allocation per account (instead of one
    /// per family, some of a few dozen bytes) leaves the heap fewer small
    /// long-lived blocks to be pinned by.
    pub fn pieces<T: AsRef<[u8]>>(&mut self, texts: &[T]) -> Vec<Piece> {
        let total: usize = texts.iter().map(|t| t.as_ref().len()).sum();
        let mut out: Vec<u8> = Vec::with_capacity(total / 4 + 64);
        let mut ends = Vec::with_capacity(texts.len());
        for text in texts {
            let mark = out.len();
            if !self.compress_into(text.as_ref(), &mut out) {
                // Compressing into memory does not fail; if it ever did, the
                // piece is dropped whole so the CRC stays true to the data.
                out.truncate(mark);
                ends.push(None);
            } else {
                ends.push(Some(out.len()));
            }
        }
        // Kept until the account changes: no spare capacity.
        out.shrink_to_fit();
        let out = Bytes::from(out);
        let mut start = 0;
        texts
            .iter()
            .zip(ends)
            .map(|(text, end)| {
                let text = text.as_ref();
                match end {
                    Some(end) if !text.is_empty() => {
                        let data = out.slice(start..end);
                        start = end;
                        Piece {
                            data,
                            crc: crc32fast::hash(text),
                            len: text.len() as u64,
                            shift: shift_for(text.len() as u64),
                        }
                    }
                    _ => Piece {
                        shift: shift_for(0),
                        ..Piece::default()
                    },
                }
            })
            .collect()
    }

    /// Appends `text` to `out` as raw deflate ended by a sync flush. Empty
    /// text appends nothing.
    fn compress_into(&mut self, text: &[u8], out: &mut Vec<u8>) -> bool {
        if text.is_empty() {
            return true;
        }
        self.deflate.reset();
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let before = self.deflate.total_in();
            if let Err(err) = self
                .deflate
                .compress_vec(&text[consumed..], out, FlushCompress::Sync)
            {
                tracing::error!(error = %err, "compressing a piece of the exposition failed");
                return false;
            }
            consumed += (self.deflate.total_in() - before) as usize;
            // The flush is complete once all input is taken and the output
            // was not filled to the brim.
            if consumed >= text.len() && out.capacity() > out.len() {
                return true;
            }
        }
    }
}

/// Compressors kept for concurrent scrapes, so that a scrape does not
/// allocate a deflate state (a few hundred KB) for its telemetry.
#[derive(Debug, Default)]
pub struct CompressorPool {
    idle: std::sync::Mutex<Vec<Compressor>>,
}

/// Compressors kept idle at most: as many as scrapes usually run at once
/// (allocating and freeing a few hundred KB per scrape fragments the heap).
const POOL_SIZE: usize = 32;

impl CompressorPool {
    /// Compresses `text` as an independent piece.
    pub fn piece(&self, text: &[u8]) -> Piece {
        let idle = || self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let mut compressor = idle().pop().unwrap_or_default();
        let piece = compressor.piece(text);
        let mut idle = idle();
        if idle.len() < POOL_SIZE {
            idle.push(compressor);
        }
        piece
    }
}

/// Compresses `text` as a complete gzip member (for bodies made in one go).
pub fn gzip(text: &[u8]) -> Bytes {
    let piece = Compressor::new().piece(text);
    let mut sum = Checksum::default();
    sum.push(&piece);
    let tail = trailer(sum);
    let mut out = Vec::with_capacity(HEADER.len() + piece.data.len() + tail.len());
    out.extend_from_slice(&HEADER);
    out.extend_from_slice(&piece.data);
    out.extend_from_slice(&tail);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        // A single-member decoder: it must not need the multi-member reading.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    fn member(pieces: &[&Piece]) -> Vec<u8> {
        let mut out = HEADER.to_vec();
        let mut sum = Checksum::default();
        for p in pieces {
            out.extend_from_slice(&p.data);
            sum.push(p);
        }
        out.extend_from_slice(&trailer(sum));
        out
    }

    #[test]
    fn combined_crc_equals_crc_of_concatenation() {
        let parts: Vec<Vec<u8>> = (0..50)
            .map(|i| {
                (0..(i * 37 % 700))
                    .map(|j| (i * 31 + j * 7) as u8)
                    .collect()
            })
            .collect();
        let mut c = Compressor::new();
        let pieces: Vec<Piece> = parts.iter().map(|p| c.piece(p)).collect();
        let mut sum = Checksum::default();
        for p in &pieces {
            sum.push(p);
        }
        let whole: Vec<u8> = parts.concat();
        assert_eq!(sum.crc, crc32fast::hash(&whole));
        assert_eq!(sum.len, whole.len() as u64);
    }

    #[test]
    fn pieces_in_any_order_make_one_valid_member() {
        let mut c = Compressor::new();
        let a = c.piece(b"# HELP x The x.\n# TYPE x gauge\n");
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("x{{id=\"{i}\"}} {}\n", i % 7).into_bytes())
            .collect();
        let b = c.piece(&big);
        let empty = c.piece(b"");
        let d = c.piece(b"# EOF\n");
        let out = member(&[&a, &b, &empty, &d]);
        let mut expected = b"# HELP x The x.\n# TYPE x gauge\n".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"# EOF\n");
        assert_eq!(gunzip(&out), expected);
        // Reordered, and a piece reused twice: still one valid member.
        let out = member(&[&d, &a, &d]);
        assert_eq!(
            gunzip(&out),
            b"# EOF\n# HELP x The x.\n# TYPE x gauge\n# EOF\n"
        );
        // Compression actually happened.
        assert!(b.data.len() < big.len() / 3, "{}", b.data.len());
    }

    #[test]
    fn pieces_sharing_one_buffer_are_independent_pieces() {
        let texts: Vec<Vec<u8>> = vec![
            b"chime_bots{account_id=\"a\"} 3\n".to_vec(),
            Vec::new(),
            (0..5000)
                .map(|i| format!("chime_bot_info{{bot_id=\"{i}\"}} 1\n"))
                .collect::<String>()
                .into_bytes(),
            b"x 1\n".to_vec(),
        ];
        let mut compressor = Compressor::new();
        let pieces = compressor.pieces(&texts);
        assert_eq!(pieces.len(), texts.len());
        // All in one allocation: each piece's data follows the one before.
        let nonempty: Vec<&Piece> = pieces.iter().filter(|p| p.text_len() > 0).collect();
        assert_eq!(nonempty.len(), 3);
        for pair in nonempty.windows(2) {
            let end = pair[0].data.as_ptr() as usize + pair[0].data.len();
            assert_eq!(end, pair[1].data.as_ptr() as usize);
        }
        // Each is a valid piece on its own, in any order, with its own CRC.
        for (piece, text) in pieces.iter().zip(&texts) {
            assert_eq!(piece.text_len(), text.len() as u64);
            assert_eq!(gunzip(&member(&[piece])), *text);
        }
        let reordered = member(&[&pieces[3], &pieces[0], &pieces[2], &pieces[1]]);
        let expected = [&texts[3][..], &texts[0], &texts[2], &texts[1]].concat();
        assert_eq!(gunzip(&reordered), expected);
    }

    #[test]
    fn empty_member_and_whole_gzip() {
        assert_eq!(gunzip(&member(&[])), b"");
        assert_eq!(gunzip(&gzip(b"hello\n")), b"hello\n");
    }

    #[test]
    fn checksums_append_as_their_texts_do() {
        let mut c = Compressor::new();
        let pieces = c.pieces(&[&b"abc"[..], b"", b"defgh", b"ij"]);
        let mut left = Checksum::default();
        left.push(&pieces[0]);
        left.push(&pieces[1]);
        let mut right = Checksum::default();
        right.push(&pieces[2]);
        right.push(&pieces[3]);
        left.append(right);
        left.append(Checksum::default());
        assert_eq!(left.crc, crc32fast::hash(b"abcdefghij"));
        assert_eq!(left.len, 10);
    }

    #[test]
    fn shift_matches_crc_of_zero_bytes() {
        // crc(A ‖ 0^n) computed directly and by shifting.
        for n in [0u64, 1, 2, 3, 100, 4096, 65_537] {
            let a = b"chime";
            let mut data = a.to_vec();
            data.resize(a.len() + n as usize, 0);
            let zeros = crc32fast::hash(&data[a.len()..]);
            assert_eq!(
                multmodp(shift_for(n), crc32fast::hash(a)) ^ zeros,
                crc32fast::hash(&data),
                "n = {n}"
            );
        }
    }
}
