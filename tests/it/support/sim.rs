//! The in-process Anaplan simulator for tests: start it on `127.0.0.1:0` with a config, talk
//! to it over real HTTP, observe and steer it through the handle.
//!
//! ```ignore
//! let sim = support::sim::start_default().await;
//! let url = sim.base_url();                 // auth at {url}/token/..., API at {url}/2/0/...
//! let export = sim.export("Revenue - TSC.csv").unwrap();
//! ```

#![allow(dead_code)]

use std::time::Duration;

use anaplan_parquet::Secret;
use anaplan_parquet::simulator::{Simulator, SimulatorConfig, SimulatorHandle};

/// The default tenant's user.
pub const USER: &str = "demo@example.com";
/// The default tenant's password.
pub const PASSWORD: &str = "demo-password";
/// The administrator of the default tenant (same password, access to every model).
pub const ADMIN: &str = "admin@example.com";

/// The default tenant, sized for tests: a main export (`Revenue - TSC.csv`) of `rows` rows cut
/// in chunks of `chunk_size` bytes, tasks of 100 ms.
pub fn tenant(rows: u64, chunk_size: u64, seed: u64) -> SimulatorConfig {
    let mut config =
        SimulatorConfig::default_tenant(USER, Secret::new(PASSWORD), rows, chunk_size, seed);
    config.task_duration = Duration::from_millis(100);
    config
}

/// Starts a simulator with `config` on a free loopback port.
pub async fn start(config: SimulatorConfig) -> SimulatorHandle {
    Simulator::start(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("the simulator starts")
}

/// Starts the test tenant: 5,000 rows in chunks of 64 KiB, seed 42.
pub async fn start_default() -> SimulatorHandle {
    start(tenant(5000, 64 * 1024, 42)).await
}
