//! Scheduling policy: run queues, placement, address-space ids and the wait word —
//! pure, host-tested.

pub mod asid;
pub mod run_queue;
pub mod wait_word;
