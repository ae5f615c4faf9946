//! IPC objects (ABI.md 4.2, calls 38–40): events and eventpairs. Channels, ports and
//! timers follow the same pattern: signals in the object's base, observers woken there.

pub mod event;
