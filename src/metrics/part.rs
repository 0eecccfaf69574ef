//! A piece of exposition text with its raw-deflate twin, compressed once.
//!
//! Pieces compressed independently can be concatenated into one deflate stream when every piece
//! but the last ends with a sync flush (byte-aligned, no final block): no piece refers back into
//! another. So a gzip response is the gzip header, the pieces' deflate bytes, the last piece
//! finished, and a trailer with the CRC-32 of all pieces combined. Nothing is recompressed when
//! one collector publishes, and no text is held twice.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

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
        let mut deflate = raw_deflate(&plain, flush);
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

/// Compresses `data` into a raw deflate stream ended by `flush`.
fn raw_deflate(data: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut compress = Compress::new(Compression::new(5), false);
    let mut out = Vec::with_capacity(data.len() / 5 + 1024);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = compress.total_in() as usize;
        let before = out.len();
        let status = compress.compress_vec(&data[consumed..], &mut out, flush);
        let all_in = compress.total_in() as usize == data.len();
        let spare_left = out.capacity() > out.len();
        match status {
            Ok(Status::StreamEnd) => break,
            Ok(_) if matches!(flush, FlushCompress::Sync) && all_in && spare_left => break,
            Ok(Status::BufError) if out.len() == before && all_in => break,
            Ok(_) => {}
            // In-memory deflate of a byte slice cannot fail; stop rather than spin if it does.
            Err(_) => break,
        }
    }
    out
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
}
