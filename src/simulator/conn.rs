//! The simulator's connections: a listener whose TCP streams can be throttled (a bandwidth cap
//! read at every write) or reset by the handler serving them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener handing out [`SimIo`] connections.
pub(crate) struct SimListener {
    pub inner: TcpListener,
    pub bandwidth: Arc<AtomicU64>,
}

impl Listener for SimListener {
    type Io = SimIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimIo, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (SimIo::new(stream, Arc::clone(&self.bandwidth)), addr);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("simulator accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// What a handler can do to its connection.
#[derive(Debug, Default)]
pub(crate) struct ConnControl {
    /// Reset the connection (RST) instead of closing it.
    pub reset: AtomicBool,
}

/// Per-connection information handed to the handler.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    pub control: Arc<ConnControl>,
}

impl Connected<IncomingStream<'_, SimListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        ConnInfo {
            control: Arc::clone(&stream.io().control),
        }
    }
}

/// A TCP stream with a bandwidth cap (token bucket, rate read at every write) and a reset
/// switch (dropped with `SO_LINGER` 0, so the peer sees a reset).
pub(crate) struct SimIo {
    stream: TcpStream,
    control: Arc<ConnControl>,
    bandwidth: Arc<AtomicU64>,
    tokens: f64,
    refilled: Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SimIo {
    fn new(stream: TcpStream, bandwidth: Arc<AtomicU64>) -> Self {
        SimIo {
            stream,
            control: Arc::new(ConnControl::default()),
            bandwidth,
            tokens: 0.0,
            refilled: Instant::now(),
            sleep: None,
        }
    }
}

impl Drop for SimIo {
    fn drop(&mut self) {
        if self.control.reset.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for SimIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.control.reset.load(Ordering::Relaxed) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        let rate = this.bandwidth.load(Ordering::Relaxed);
        let mut n = buf.len();
        if rate > 0 {
            let rate = rate as f64;
            // Bursts of at most 20 ms worth of bytes (at least 1 KiB).
            let burst = (rate / 50.0).max(1024.0);
            loop {
                if let Some(sleep) = this.sleep.as_mut() {
                    ready!(sleep.as_mut().poll(cx));
                    this.sleep = None;
                }
                let now = Instant::now();
                let elapsed = now.duration_since(this.refilled).as_secs_f64();
                this.refilled = now;
                this.tokens = (this.tokens + elapsed * rate).min(burst);
                if this.tokens >= 1.0 {
                    n = n.min(this.tokens as usize);
                    break;
                }
                let want = (n as f64).min(burst);
                let wait = (want - this.tokens) / rate;
                this.sleep = Some(Box::pin(tokio::time::sleep(Duration::from_secs_f64(wait))));
            }
        }
        let result = Pin::new(&mut this.stream).poll_write(cx, &buf[..n]);
        if let Poll::Ready(Ok(written)) = result
            && rate > 0
        {
            this.tokens -= written as f64;
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
