//! Cooperative cancellation: one token shared by every stage of a run, set by a signal handler
//! (or a timeout), remembering which signal asked so the exit code can say so.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Signal};

/// A cloneable shutdown handle. Cancelling it asks every stage to stop; the first signal wins.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    signal: Arc<OnceLock<Signal>>,
}

impl Shutdown {
    /// A fresh handle that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every stage to stop because of `signal`.
    pub fn trigger(&self, signal: Signal) {
        let _ = self.signal.set(signal);
        self.token.cancel();
    }

    /// Stops the stages sharing this handle without naming a signal (a stage failed).
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// True once a stop was asked for.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when a stop is asked for.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// The signal that asked to stop, if any.
    pub fn signal(&self) -> Option<Signal> {
        self.signal.get().copied()
    }

    /// The error a stage returns when it stops because of this handle.
    pub fn error(&self) -> Error {
        Error::Cancelled(self.signal().unwrap_or(Signal::Interrupt))
    }

    /// A child handle: cancelled with its parent, or on its own without touching the parent.
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
            signal: Arc::clone(&self.signal),
        }
    }

    /// Installs SIGINT and SIGTERM handlers that trigger this handle. A second signal exits at
    /// once with the conventional code (130 or 143), for when cleanup itself hangs.
    pub fn listen_for_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    return;
                };
                loop {
                    let sig = tokio::select! {
                        _ = int.recv() => Signal::Interrupt,
                        _ = term.recv() => Signal::Terminate,
                    };
                    if this.is_triggered() {
                        let code = match sig {
                            Signal::Interrupt => 130,
                            Signal::Terminate => 143,
                        };
                        std::process::exit(code);
                    }
                    tracing::warn!(
                        "received {sig}: stopping (cleaning up; send it again to exit at once)"
                    );
                    this.trigger(sig);
                }
            }
            #[cfg(not(unix))]
            {
                if tokio::signal::ctrl_c().await.is_ok() {
                    this.trigger(Signal::Interrupt);
                }
            }
        });
    }
}
