//! A piece of exposition text kept as raw deflate, compressed once; its text is restored only
//! when a plain scrape asks for it.
//!
//! Pieces compressed independently can be concatenated into one deflate stream when every piece
//! but the last ends with a sync flush (byte-aligned, no final block): no piece refers back into
//! another. So a gzip response is the gzip header, the pieces' deflate bytes, the last piece
//! finished, and a trailer with the CRC-32 of all pieces combined. Nothing is recompressed when
//! one collector publishes.
//!
//! The text itself is not kept: Prometheus asks for gzip, and the deflate bytes are a tenth of
//! the text. The first plain scrape that needs a piece inflates it (one caller inflates, callers
//! meanwhile wait for it) and the text stays with the piece until the piece is replaced, by the
//! collector's next run.
//!
//! Compressing a byte slice in memory should never fail; if it ever does, the piece is written
//! as deflate *stored* blocks instead (the text as it is, framed), which are always valid, the
//! failure is logged at error and counted ([`compression_failures`]): a gzip body is never
//! silently corrupt. Inflating our own deflate bytes cannot fail either; if it ever does, the
//! plain piece is served empty, logged at error and counted the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;
use flate2::{
    Compress, CompressError, Compression, Decompress, FlushCompress, FlushDecompress, Status,
};

/// The fixed gzip member header (deflate, no name, unknown OS).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Raw deflate of a text, its length and CRC-32, and the text once a plain scrape asked for it.
#[derive(Debug, Clone)]
pub struct Part {
    pub deflate: Bytes,
    len: usize,
    crc: crc32fast::Hasher,
    plain: OnceLock<Bytes>,
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

    fn new(plain: Vec<u8>, flush: FlushCompress) -> Part {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&plain);
        let deflate = deflate_or_store(&plain, flush);
        Part::compressed(deflate, plain.len(), crc)
    }

    /// A piece from its raw deflate bytes, the length and CRC-32 of their text.
    fn compressed(mut deflate: Vec<u8>, len: usize, crc: crc32fast::Hasher) -> Part {
        deflate.shrink_to_fit();
        Part {
            deflate: Bytes::from(deflate),
            len,
            crc,
            plain: OnceLock::new(),
        }
    }

    /// The text, inflated on first use.
    pub fn plain(&self) -> &Bytes {
        self.plain.get_or_init(|| match raw_inflate(&self.deflate, self.len) {
            Some(plain) => Bytes::from(plain),
            None => {
                COMPRESSION_FAILURES.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    bytes = self.len,
                    "restoring an exposition piece from its deflate bytes failed; serving it empty in plain scrapes"
                );
                Bytes::new()
            }
        })
    }

    /// Whether the text was restored and is held.
    #[cfg(test)]
    pub fn text_is_held(&self) -> bool {
        self.plain.get().is_some()
    }

    /// Length of the text.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn crc(&self) -> &crc32fast::Hasher {
        &self.crc
    }
}

/// Text written piecewise into a piece that more pieces follow, compressed as it grows: at most
/// [`PartWriter::SPILL`] bytes of it are held as text at once (a large account's bind
/// collector writes tens of megabytes of one family in a run). Each spill is a deflate stream
/// of its own ended by a sync flush, so they concatenate as pieces do.
#[derive(Debug, Default)]
pub struct PartWriter {
    text: String,
    deflate: Vec<u8>,
    len: usize,
    crc: crc32fast::Hasher,
}

impl PartWriter {
    /// Text held before it is compressed.
    pub const SPILL: usize = 256 * 1024;

    /// A writer that expects about `size` bytes of text.
    pub fn sized(size: usize) -> PartWriter {
        let mut writer = PartWriter::default();
        if size > 0 {
            writer
                .text
                .reserve_exact((size + size / 16 + 256).min(Self::SPILL + 4096));
        }
        writer
    }

    /// Where the next text goes; call [`PartWriter::spill_if_full`] after writing.
    pub fn text(&mut self) -> &mut String {
        &mut self.text
    }

    /// Compresses the text held once it reaches [`PartWriter::SPILL`] bytes.
    pub fn spill_if_full(&mut self) {
        if self.text.len() >= Self::SPILL {
            self.spill();
        }
    }

    fn spill(&mut self) {
        self.crc.update(self.text.as_bytes());
        self.len += self.text.len();
        self.deflate
            .extend_from_slice(&deflate_or_store(self.text.as_bytes(), FlushCompress::Sync));
        self.text.clear();
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.text.is_empty()
    }

    /// The piece of everything written (more pieces follow it).
    pub fn finish(mut self) -> Part {
        if !self.text.is_empty() || self.deflate.is_empty() {
            self.spill();
        }
        Part::compressed(self.deflate, self.len, self.crc)
    }
}

/// Raw deflate of `plain` ended by `flush`; if compressing fails (it should not), the text as
/// stored blocks, counted and logged.
fn deflate_or_store(plain: &[u8], flush: FlushCompress) -> Vec<u8> {
    match raw_deflate(plain, flush) {
        Ok(deflate) => deflate,
        Err(error) => {
            COMPRESSION_FAILURES.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                error = %error,
                bytes = plain.len(),
                "compressing an exposition piece failed; serving it uncompressed inside the gzip body"
            );
            stored_deflate(plain, matches!(flush, FlushCompress::Finish))
        }
    }
}

/// The `len` bytes that the raw deflate `data` holds (a final block or a sync flush ends it),
/// or `None` when `data` is not that.
fn raw_inflate(data: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut inflate = Decompress::new(false);
    // One byte of room more than the text: a stream holding more would fill it.
    let mut out = Vec::with_capacity(len + 1);
    loop {
        let before = (inflate.total_in(), out.len());
        let consumed = before.0 as usize;
        let status = inflate
            .decompress_vec(data.get(consumed..)?, &mut out, FlushDecompress::Sync)
            .ok()?;
        if matches!(status, Status::StreamEnd) || inflate.total_in() as usize == data.len() {
            break;
        }
        if (inflate.total_in(), out.len()) == before || out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
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
            len += part.len() as u64;
        }
        gz.extend_from_slice(&gzip_trailer(crc, len));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        let expected: Vec<u8> = texts.iter().flatten().chain(b"tail\n").copied().collect();
        assert_eq!(out, expected);
        // Each piece's text comes back from its own deflate bytes, as it was.
        for (part, text) in parts.iter().zip(texts.iter().chain([&b"tail\n".to_vec()])) {
            assert_eq!(part.plain().as_ref(), text.as_slice());
        }
        assert!(gz.len() < expected.len() / 3, "compresses");
    }

    #[test]
    fn a_piece_written_in_spills_is_one_piece_of_the_gzip_file() {
        let mut writer = PartWriter::sized(10 * PartWriter::SPILL);
        let mut text = String::new();
        for i in 0..120_000u32 {
            let line = format!("family{{account=\"a\",i=\"{i}\"}} {}\n", i % 13);
            writer.text().push_str(&line);
            writer.spill_if_full();
            text.push_str(&line);
            // Never more than a spill's worth of text held.
            assert!(writer.text().len() < PartWriter::SPILL);
        }
        assert!(text.len() > 3 * PartWriter::SPILL, "{}", text.len());
        let part = writer.finish();
        assert_eq!(part.len(), text.len());
        assert_eq!(part.plain().as_ref(), text.as_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(text.as_bytes());
        assert_eq!(part.crc().clone().finalize(), crc.finalize());
        let tail = Part::last(b"# EOF\n".to_vec());
        let mut crc = part.crc().clone();
        crc.combine(tail.crc());
        let mut gz = GZIP_HEADER.to_vec();
        gz.extend_from_slice(&part.deflate);
        gz.extend_from_slice(&tail.deflate);
        gz.extend_from_slice(&gzip_trailer(crc, (part.len() + tail.len()) as u64));
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .expect("valid gzip");
        assert_eq!(out, text + "# EOF\n");
        // Nothing written: an empty piece, as Part::open gives.
        let empty = PartWriter::default().finish();
        assert!(empty.is_empty() && empty.plain().is_empty());
    }

    #[test]
    fn text_comes_back_from_stored_blocks_and_not_from_bytes_that_are_not_its_deflate() {
        let big: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        for last in [false, true] {
            assert_eq!(
                raw_inflate(&stored_deflate(&big, last), big.len()).as_deref(),
                Some(big.as_slice())
            );
            assert_eq!(
                raw_inflate(&stored_deflate(b"", last), 0).as_deref(),
                Some(&b""[..])
            );
        }
        let part = Part::open(b"some text\n".to_vec());
        assert_eq!(raw_inflate(&part.deflate, 9), None, "longer than said");
        assert_eq!(raw_inflate(&part.deflate, 11), None, "shorter than said");
        assert_eq!(raw_inflate(b"\xff\xff\xff\xff", 4), None, "not deflate");
        assert_eq!(raw_inflate(b"", 3), None, "nothing");
        let empty = Part::open(Vec::new());
        assert!(empty.is_empty() && empty.plain().is_empty());
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
