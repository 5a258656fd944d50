//! Built-in demo traffic: a seeded simulation of live rooms, posted over loopback HTTP to
//! roomwatch's own receiver exactly as Tencent would post it.

pub mod model;
pub mod rng;
pub mod simulator;

pub use model::{RoomView, SeatView};
pub use simulator::{Delivery, DeliveryCounts, DeliveryKind, SimConfig, Simulator};
