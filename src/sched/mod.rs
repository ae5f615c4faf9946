//! Scheduling policy: run queues, placement and address-space ids — pure, host-tested.

pub mod asid;
pub mod run_queue;
