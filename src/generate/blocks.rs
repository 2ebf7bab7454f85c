//! Files made of independently generated blocks: the [`Blocks`] trait, the [`BlockIndex`] that
//! maps byte offsets to blocks (so any byte range can be served without the whole file), and
//! writing a whole file in order, optionally with several generating threads.

use std::io::{self, Write};

/// Anything whose bytes come in independently generated blocks: the [`Generator`], and the
/// simulator's other export layouts and encodings built on it.
pub(crate) trait Blocks: Send + Sync {
    /// Number of blocks (at least 1).
    fn block_count(&self) -> u64;
    /// Appends block `i`; the bytes depend only on the source and `i`.
    fn write_block(&self, i: u64, out: &mut Vec<u8>);
}

/// The byte offset of every block of a generated file, so any byte range can be produced by
/// generating only the blocks it overlaps. Building it generates the file once (in memory, a
/// block at a time); it holds 8 bytes per block.
#[derive(Clone, Debug)]
pub(crate) struct BlockIndex {
    /// `offsets[i]` is where block `i` starts; the last entry is the file size.
    offsets: Vec<u64>,
}

impl BlockIndex {
    /// Generates every block once to measure it.
    pub(crate) fn build(generator: &dyn Blocks) -> Self {
        let n = generator.block_count();
        let mut offsets = Vec::with_capacity(n as usize + 1);
        let mut buf = Vec::with_capacity(1 << 20);
        let mut at = 0u64;
        for i in 0..n {
            offsets.push(at);
            buf.clear();
            generator.write_block(i, &mut buf);
            at += buf.len() as u64;
        }
        offsets.push(at);
        BlockIndex { offsets }
    }

    /// The file size in bytes.
    pub(crate) fn total_bytes(&self) -> u64 {
        *self.offsets.last().unwrap_or(&0)
    }

    /// Number of blocks.
    pub(crate) fn block_count(&self) -> u64 {
        self.offsets.len() as u64 - 1
    }

    /// The byte range of block `i`.
    pub(crate) fn block_range(&self, i: u64) -> std::ops::Range<u64> {
        self.offsets[i as usize]..self.offsets[i as usize + 1]
    }

    /// The block holding byte `offset` (the last block when `offset` is at or past the end).
    pub(crate) fn block_at(&self, offset: u64) -> u64 {
        // offsets is sorted; find the last start <= offset.
        let i = self.offsets.partition_point(|&o| o <= offset);
        (i.saturating_sub(1) as u64).min(self.block_count().saturating_sub(1))
    }

    /// Appends bytes `range` of the file to `out`, generating only the blocks it overlaps.
    pub(crate) fn write_range(
        &self,
        generator: &dyn Blocks,
        range: std::ops::Range<u64>,
        out: &mut Vec<u8>,
    ) {
        let end = range.end.min(self.total_bytes());
        if range.start >= end {
            return;
        }
        let mut buf = Vec::new();
        let mut i = self.block_at(range.start);
        while i < self.block_count() {
            let block = self.block_range(i);
            if block.start >= end {
                break;
            }
            buf.clear();
            generator.write_block(i, &mut buf);
            let from = range.start.max(block.start) - block.start;
            let to = end.min(block.end) - block.start;
            out.extend_from_slice(&buf[from as usize..to as usize]);
            i += 1;
        }
    }
}

/// Writes every block of `source` to `w` in order, returning the number of bytes written.
pub(super) fn write_all(source: &dyn Blocks, w: &mut impl Write) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut total = 0u64;
    for i in 0..source.block_count() {
        source.write_block(i, &mut buf);
        if buf.len() >= 1 << 19 {
            w.write_all(&buf)?;
            total += buf.len() as u64;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    total += buf.len() as u64;
    w.flush()?;
    Ok(total)
}

/// [`write_all`] with `threads` generating threads; blocks are still written in order.
pub(super) fn write_all_parallel(
    source: &dyn Blocks,
    w: &mut (impl Write + Send),
    threads: usize,
) -> io::Result<u64> {
    if threads <= 1 {
        return write_all(source, w);
    }
    const BATCH_BLOCKS: u64 = 16;
    let block_count = source.block_count();
    let batches = block_count.div_ceil(BATCH_BLOCKS);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>)>(threads * 2);
    // Buffers go round (fresh multi-megabyte allocations would page-fault every time).
    let (pool_tx, pool_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(threads * 4);
    for _ in 0..threads * 4 {
        let _ = pool_tx.send(Vec::with_capacity(BATCH_BLOCKS as usize * 300_000));
    }
    let pool_rx = std::sync::Mutex::new(pool_rx);
    let next = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, pool_rx) = (&next, &pool_rx);
            s.spawn(move || {
                loop {
                    // Take a buffer before a batch number, so the batch the writer waits
                    // for always has a buffer.
                    let buf = pool_rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok(mut buf) = buf else { break };
                    let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if b >= batches {
                        break;
                    }
                    buf.clear();
                    let end = ((b + 1) * BATCH_BLOCKS).min(block_count);
                    for i in b * BATCH_BLOCKS..end {
                        source.write_block(i, &mut buf);
                    }
                    if tx.send((b, buf)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let result = write_in_order(&rx, &pool_tx, w);
        // On a write error, stop the workers: dropping the channels fails their calls.
        drop(rx);
        drop(pool_tx);
        result
    })
}

/// Writes `(sequence number, bytes)` messages to `w` in sequence order.
fn write_in_order(
    rx: &std::sync::mpsc::Receiver<(u64, Vec<u8>)>,
    pool: &std::sync::mpsc::SyncSender<Vec<u8>>,
    w: &mut impl Write,
) -> io::Result<u64> {
    let mut pending = std::collections::BTreeMap::new();
    let mut want = 0u64;
    let mut total = 0u64;
    for (b, buf) in rx {
        pending.insert(b, buf);
        while let Some(buf) = pending.remove(&want) {
            w.write_all(&buf)?;
            total += buf.len() as u64;
            want += 1;
            let _ = pool.try_send(buf);
        }
    }
    w.flush()?;
    Ok(total)
}
