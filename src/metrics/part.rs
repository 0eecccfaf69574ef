//! A piece of exposition text with its raw-deflate twin, compressed once.
//!
//! Pieces compressed independently can be concatenated into one deflate stream when every piece
//! but the last ends with a sync flush (byte-aligned, no final block): no piece refers back into
//! another. So a gzip response is the gzip header, the pieces' deflate bytes, the last piece
//! finished, and a trailer with the CRC-32 of all pieces combined. Nothing is recompressed when
//! one collector publishes, and no text is held twice.
//!
//! Compressing a byte slice in memory should never fail; if it ever does, the piece is written
//! as deflate *stored* blocks instead (the text as it is, framed), which are always valid, the
//! failure is logged at error and counted ([`compression_failures`]): a gzip body is never
//! silently corrupt.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use flate2::{Compress, CompressError, Compression, FlushCompress, Status};

/// The fixed gzip member header (deflate, no name, unknown OS).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Plain text and its raw deflate.
#[derive(Debug, Clone)]
pub struct Part {
    pub plain: Bytes,
    pub deflate: Bytes,
    crc: crc32fast::Hasher,
}

impl Part {
    /// A piece that more pieces follow (ends with a sync flush).
    pub fn open(plain: Vec<u8>) -> Part {
        Part::new(plain, FlushCompress::Sync)
    }

    /// The last piece of a response (ends with the final block).
    pub fn last(plain: Vec<u8>) -> Part {
        Part::new(plain, FlushCompress::Finish)
    }

    fn new(mut plain: Vec<u8>, flush: FlushCompress) -> Part {
        // Give back large slack only: shrinking copies the text.
        if plain.capacity() - plain.len() > plain.len() / 8 {
            plain.shrink_to_fit();
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&plain);
        let mut deflate = match raw_deflate(&plain, flush) {
            Ok(deflate) => deflate,
            Err(error) => {
                COMPRESSION_FAILURES.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    error = %error,
                    bytes = plain.len(),
                    "compressing an exposition piece failed; serving it uncompressed inside the gzip body"
                );
                stored_deflate(&plain, matches!(flush, FlushCompress::Finish))
            }
        };
        deflate.shrink_to_fit();
        Part {
            plain: Bytes::from(plain),
            deflate: Bytes::from(deflate),
            crc,
        }
    }

    pub fn crc(&self) -> &crc32fast::Hasher {
        &self.crc
    }
}

/// Pieces that could not be compressed since the process started.
static COMPRESSION_FAILURES: AtomicU64 = AtomicU64::new(0);

/// How many pieces could not be compressed (and were stored instead) since start.
pub fn compression_failures() -> u64 {
    COMPRESSION_FAILURES.load(Ordering::Relaxed)
}

/// `data` as raw deflate stored blocks (RFC 1951, 3.2.4): byte-aligned, so it concatenates with
/// sync-flushed pieces; the last block is final when `last`.
fn stored_deflate(data: &[u8], last: bool) -> Vec<u8> {
    const MAX_BLOCK: usize = 65_535;
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / MAX_BLOCK + 1));
    let mut blocks = data.chunks(MAX_BLOCK).peekable();
    if blocks.peek().is_none() {
        // An empty piece still needs its (empty) block, final or not.
        out.extend_from_slice(&[u8::from(last), 0, 0, 0xff, 0xff]);
        return out;
    }
    while let Some(block) = blocks.next() {
        let final_block = last && blocks.peek().is_none();
        let len = block.len() as u16;
        out.push(u8::from(final_block));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out
}

/// Compresses `data` into a raw deflate stream ended by `flush`.
fn raw_deflate(data: &[u8], flush: FlushCompress) -> Result<Vec<u8>, CompressError> {
    let mut compress = Compress::new(Compression::new(5), false);
    let mut out = Vec::with_capacity(data.len() / 5 + 1024);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = compress.total_in() as usize;
        let before = out.len();
        let status = compress.compress_vec(&data[consumed..], &mut out, flush)?;
        let all_in = compress.total_in() as usize == data.len();
        let spare_left = out.capacity() > out.len();
        match status {
            Status::StreamEnd => break,
            _ if matches!(flush, FlushCompress::Sync) && all_in && spare_left => break,
            Status::BufError if out.len() == before && all_in => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The gzip trailer for pieces whose CRCs are combined in `crc` and whose plain length is `len`.
pub fn gzip_trailer(crc: crc32fast::Hasher, len: u64) -> Bytes {
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    trailer.extend_from_slice(&(len as u32).to_le_bytes());
    Bytes::from(trailer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn independently_compressed_pieces_form_one_gzip_file() {
        let texts: Vec<Vec<u8>> = vec![
            (0..200_000u32)
                .flat_map(|i| format!("a{i} ").into_bytes())
                .collect(),
            Vec::new(),
            b"small piece\n".to_vec(),
            (0..50_000u32)
                .flat_map(|i| format!("b{} ", i % 7).into_bytes())
                .collect(),
        ];
        let mut parts: Vec<Part> = texts.iter().map(|t| Part::open(t.clone())).collect();
        parts.push(Part::last(b"tail\n".to_vec()));
        let mut crc = crc32fast::Hasher::new();
        let mut gz = GZIP_HEADER.to_vec();
        let mut len = 0u64;
        for part in &parts {
            crc.combine(part.crc());
            gz.extend_from_slice(&part.deflate);
            len += part.plain.len() as u64;
        }
        gz.extend_from_slice(&gzip_trailer(crc, len));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        let expected: Vec<u8> = parts.iter().flat_map(|p| p.plain.iter().copied()).collect();
        assert_eq!(out, expected);
        assert!(gz.len() < expected.len() / 3, "compresses");
    }

    #[test]
    fn stored_fallback_pieces_form_valid_gzip_with_compressed_ones() {
        let big: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let pieces = [
            (
                Part::open(b"compressed\n".to_vec()).deflate.to_vec(),
                b"compressed\n".to_vec(),
            ),
            (stored_deflate(&big, false), big.clone()),
            (stored_deflate(b"", false), Vec::new()),
            (stored_deflate(b"last\n", true), b"last\n".to_vec()),
        ];
        let mut gz = GZIP_HEADER.to_vec();
        let mut crc = crc32fast::Hasher::new();
        let mut expected = Vec::new();
        for (deflate, plain) in &pieces {
            gz.extend_from_slice(deflate);
            crc.update(plain);
            expected.extend_from_slice(plain);
        }
        gz.extend_from_slice(&gzip_trailer(crc, expected.len() as u64));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        assert_eq!(out, expected);
        let mut empty_last = GZIP_HEADER.to_vec();
        empty_last.extend_from_slice(&stored_deflate(b"", true));
        empty_last.extend_from_slice(&gzip_trailer(crc32fast::Hasher::new(), 0));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&empty_last[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        assert!(out.is_empty());
    }
}
