//! Host tests of the IPC core: each rule of the channel queue, the port queue and the
//! timer state, then randomized runs of each against a plain model.
extern crate std;

use super::channel_queue::*;
use super::port_queue::*;
use super::timer_state::*;
use crate::error::ZxError;
use crate::test_rng::Rng;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

// ----- channel queue ----------------------------------------------------------------

type Queue = EndQueue<u32, &'static str>;

#[test]
fn txid_is_the_first_four_bytes_little_endian() {
    assert_eq!(txid_of(&[1, 2, 3, 4, 5]), Some(0x0403_0201));
    assert_eq!(txid_of(&[0xff; 4]), Some(u32::MAX));
    assert_eq!(txid_of(&[1, 2, 3]), None);
    assert_eq!(txid_of(&[]), None);
}

#[test]
fn messages_come_out_in_order_and_readable_rises_once() {
    let mut q = Queue::new();
    assert!(q.is_empty());
    assert_eq!(q.deliver(1, None), Ok(Delivery::Queued { was_empty: true }));
    assert_eq!(q.deliver(2, Some(7)), Ok(Delivery::Queued { was_empty: false }));
    assert_eq!(q.front(), Some(&1));
    assert_eq!((q.pop(), q.pop(), q.pop()), (Some(1), Some(2), None));
}

#[test]
fn the_3501st_message_is_should_wait_and_comes_back() {
    let mut q = Queue::new();
    for i in 0..MAX_PENDING_MESSAGES as u32 {
        assert!(q.deliver(i, None).is_ok());
    }
    assert!(q.is_full());
    assert_eq!(q.deliver(9999, None), Err((ZxError::ShouldWait, 9999)));
    // Even a reply is refused while full (ABI.md 43: the cap comes first).
    let txid = q.next_txid();
    q.add_call(txid, "caller").unwrap();
    assert_eq!(q.deliver(5, Some(txid)), Err((ZxError::ShouldWait, 5)));
    assert_eq!(q.pop(), Some(0));
    assert_eq!(q.deliver(5, Some(txid)), Ok(Delivery::Reply("caller", 5)));
    assert_eq!(q.len(), MAX_PENDING_MESSAGES - 1);
}

#[test]
fn txids_have_the_top_bit_and_skip_pending_calls() {
    let mut q = Queue::new();
    let a = q.next_txid();
    assert_eq!(a, 0x8000_0001);
    q.add_call(a, "a").unwrap();
    // Wrap the counter so that the next candidate is the pending one.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let t = q.next_txid();
        assert!(t >= KERNEL_TXID_BIT);
        assert_ne!(t, a);
        seen.push(t);
    }
    q.last_txid_for_test(0x7fff_ffff);
    let t = q.next_txid();
    assert_eq!(t, 0x8000_0000);
    q.last_txid_for_test(0);
    assert_eq!(q.next_txid(), 0x8000_0002, "0x8000_0001 is pending and skipped");
}

#[test]
fn a_reply_goes_to_its_call_and_is_never_queued() {
    let mut q = Queue::new();
    let (t1, t2) = (q.next_txid(), q.next_txid());
    q.add_call(t1, "first").unwrap();
    q.add_call(t2, "second").unwrap();
    assert_eq!(q.deliver(10, Some(t2)), Ok(Delivery::Reply("second", 10)));
    assert_eq!(q.deliver(11, Some(t2)), Ok(Delivery::Queued { was_empty: true }), "no longer pending");
    assert_eq!(q.deliver(12, Some(0)), Ok(Delivery::Queued { was_empty: false }));
    assert_eq!(q.remove_call(t1), Some("first"));
    assert_eq!(q.remove_call(t1), None);
    assert_eq!(q.pending_calls(), 0);
    assert_eq!((q.pop(), q.pop()), (Some(11), Some(12)));
}

#[test]
fn requeue_and_take_all() {
    let mut q = Queue::new();
    q.add_call(0x8000_0005, "late").unwrap();
    assert_eq!(q.requeue(3), Ok(true));
    assert_eq!(q.requeue(4), Ok(false));
    let all: VecDeque<_> = q.take_all().collect();
    assert_eq!(all, VecDeque::from([3, 4]));
    assert!(q.is_empty());
    assert_eq!(q.take_calls(), alloc::vec![(0x8000_0005, "late")]);
    assert_eq!(q.pending_calls(), 0);
}

/// Random writes, reads, calls, timeouts and closes against a model: FIFO order, the
/// cap, unique kernel txids, replies only to pending calls and never queued.
#[test]
fn channel_queue_randomized_against_a_model() {
    let mut plain_writes = 0;
    for seed in 1..=20u64 {
        let mut rng = Rng(0x5DEE_CE66_D000 + seed * 7919);
        let mut q: EndQueue<(u64, Option<u32>), u64> = EndQueue::new();
        let mut model: VecDeque<(u64, Option<u32>)> = VecDeque::new();
        let mut calls: BTreeMap<u32, u64> = BTreeMap::new();
        let mut next_id = 0u64;
        let mut replies = 0;
        let cap = if seed % 4 == 0 { MAX_PENDING_MESSAGES } else { 40 };
        for _ in 0..20_000 {
            match rng.below(10) {
                0..=3 => {
                    next_id += 1;
                    // Some messages carry the txid of a pending call, some a random one.
                    let txid = match rng.below(4) {
                        0 => None,
                        1 if !calls.is_empty() => {
                            let keys: Vec<u32> = calls.keys().copied().collect();
                            Some(keys[rng.below(keys.len() as u64) as usize])
                        }
                        _ => Some(rng.next_u64() as u32),
                    };
                    if model.len() >= cap && cap < MAX_PENDING_MESSAGES {
                        continue; // keep the small runs small
                    }
                    let msg = (next_id, txid);
                    // The write's fast path: a plain message queued at once, only when
                    // `deliver` could neither refuse it nor take it as a reply.
                    let plain = q.takes_plain_message();
                    if !calls.is_empty() || model.len() >= MAX_PENDING_MESSAGES {
                        assert!(!plain, "a message that may be refused or a reply is not plain");
                    }
                    if plain && rng.chance(2) {
                        let capacity_before = q.capacity_for_test();
                        assert_eq!(q.queue_plain(msg), model.is_empty());
                        assert_eq!(q.capacity_for_test(), capacity_before, "a plain message needs no growth");
                        model.push_back(msg);
                        plain_writes += 1;
                    } else {
                        match q.deliver(msg, txid) {
                            Err((e, back)) => {
                                assert_eq!(e, ZxError::ShouldWait);
                                assert_eq!(back, msg);
                                assert_eq!(model.len(), MAX_PENDING_MESSAGES);
                            }
                            Ok(Delivery::Reply(w, m)) => {
                                let t = txid.expect("a reply has a txid");
                                assert_eq!(calls.remove(&t), Some(w), "the reply went to its call");
                                assert_eq!(m, msg);
                                replies += 1;
                            }
                            Ok(Delivery::Queued { was_empty }) => {
                                assert!(txid.is_none_or(|t| !calls.contains_key(&t)), "a reply was queued");
                                assert_eq!(was_empty, model.is_empty());
                                model.push_back(msg);
                            }
                        }
                    }
                }
                4..=5 => assert_eq!(q.pop(), model.pop_front()),
                6 => {
                    let t = q.next_txid();
                    assert!(t >= KERNEL_TXID_BIT);
                    assert!(!calls.contains_key(&t), "txid {t:#x} is pending already");
                    next_id += 1;
                    q.add_call(t, next_id).unwrap();
                    calls.insert(t, next_id);
                }
                7 => {
                    // A call times out.
                    if let Some(&t) = calls.keys().nth(rng.below(calls.len() as u64 + 1) as usize) {
                        assert_eq!(q.remove_call(t), calls.remove(&t));
                    }
                }
                8 => {
                    if rng.chance(2) {
                        let all: VecDeque<_> = q.take_all().collect();
                        assert_eq!(all, core::mem::take(&mut model));
                        let mut taken = q.take_calls();
                        taken.sort();
                        let expected: Vec<(u32, u64)> = core::mem::take(&mut calls).into_iter().collect();
                        assert_eq!(taken, expected);
                    }
                }
                _ => {
                    if rng.chance(10) {
                        // Force the txid counter near its wrap.
                        q.last_txid_for_test(rng.next_u64() as u32 | 0x7fff_fff0);
                    }
                }
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.pending_calls(), calls.len());
            assert_eq!(q.front(), model.front());
        }
        assert!(replies > 0, "seed {seed}: no reply was ever matched");
    }
    assert!(plain_writes > 500, "the plain path ran {plain_writes} times");
}

// ----- port queue -------------------------------------------------------------------

type Port = PortQueue<u64, &'static str>;

#[test]
fn user_packets_fifo_and_the_2049_limit() {
    let mut p = Port::new();
    for i in 0..MAX_USER_PACKETS as u64 {
        p.queue_user(i).unwrap();
    }
    assert_eq!(p.queue_user(9999), Err(ZxError::ShouldWait));
    assert_eq!(p.user_packets(), MAX_USER_PACKETS);
    // Signal packets still fit.
    p.register(1, 100, 7, "reg").unwrap();
    assert_eq!(p.fire(1, 5000), Some("reg"));
    for i in 0..MAX_USER_PACKETS as u64 {
        assert_eq!(p.pop(), Some(i));
    }
    assert_eq!(p.pop(), Some(5000));
    assert_eq!(p.pop(), None);
    assert_eq!(p.user_packets(), 0);
    p.queue_user(1).unwrap();
}

#[test]
fn user_packets_written_in_place() {
    let mut p = Port::new();
    // Filled: queued like `queue_user`, in FIFO order with the others.
    p.queue_user(1).unwrap();
    assert_eq!(
        p.queue_user_in_place(|slot: &mut u64| {
            *slot = 2;
            true
        }),
        Ok(true)
    );
    p.queue_user(3).unwrap();
    assert_eq!((p.len(), p.user_packets()), (3, 3));
    // Not filled: nothing changed.
    assert_eq!(p.queue_user_in_place(|_: &mut u64| false), Ok(false));
    assert_eq!((p.len(), p.user_packets()), (3, 3));
    assert_eq!(p.front(), Some(&1));
    // Taken in place: declined, nothing changes; accepted, as `pop` (a user packet less).
    assert_eq!(p.take_front_if(|_: &u64| false), Some(false));
    assert_eq!((p.len(), p.user_packets(), p.front()), (3, 3, Some(&1)));
    assert_eq!(p.take_front_if(|v: &u64| *v == 1), Some(true));
    assert_eq!((p.len(), p.user_packets(), p.front()), (2, 2, Some(&2)));
    assert_eq!((p.pop(), p.pop(), p.pop()), (Some(2), Some(3), None));
    assert_eq!(p.take_front_if(|_: &u64| unreachable!()), None);
    assert_eq!(p.front(), None);
    // Refused (full, closed): `fill` is not called, and the errors are queue_user's.
    for i in 0..MAX_USER_PACKETS as u64 {
        p.queue_user(i).unwrap();
    }
    assert_eq!(p.queue_user_in_place(|_: &mut u64| unreachable!()), Err(ZxError::ShouldWait));
    let _ = p.close();
    assert_eq!(p.queue_user_in_place(|_: &mut u64| unreachable!()), Err(ZxError::BadState));
}

#[test]
fn a_user_packet_in_place_keeps_the_registrations_slots() {
    let mut p = Port::new();
    for id in 1..=5 {
        p.register(id, 100, id, "r").unwrap();
    }
    for i in 0..40 {
        // In place while a slot is free beyond the registrations' (it never grows the
        // FIFO); else, as the kernel's general path, through `queue_user`, which grows it.
        let room = p.capacity_for_test() > p.len() + p.registrations();
        let cap = p.capacity_for_test();
        let filled = p.queue_user_in_place(|slot: &mut u64| {
            *slot = i;
            true
        });
        assert_eq!(filled, Ok(room));
        assert_eq!(p.capacity_for_test(), cap, "an in-place queue allocated");
        if !room {
            p.queue_user(i).unwrap();
        }
        assert!(p.capacity_for_test() >= p.len() + p.registrations(), "slot invariant");
    }
    let cap = p.capacity_for_test();
    for id in 1..=5 {
        assert_eq!(p.fire(id, 1000 + id), Some("r"));
    }
    assert_eq!(p.capacity_for_test(), cap, "a fire allocated");
}

/// The slots' bytes (what the kernel counts in `ipc_bytes`) change only when the FIFO
/// grows (a user packet through `queue_user`, a registration) and when the port closes;
/// queueing in place, taking, firing and cancelling move no memory.
#[test]
fn slot_bytes_change_only_when_the_fifo_grows_or_closes() {
    let mut p = Port::new();
    assert_eq!(p.slot_bytes(), 0);
    p.queue_user(1).unwrap();
    let grown = p.slot_bytes();
    assert!(grown >= p.capacity_for_test() * core::mem::size_of::<u64>() && grown > 0);
    assert_eq!(
        p.queue_user_in_place(|slot: &mut u64| {
            *slot = 2;
            true
        }),
        Ok(true)
    );
    assert_eq!((p.pop(), p.take_front_if(|_: &u64| true)), (Some(1), Some(true)));
    assert_eq!(p.slot_bytes(), grown, "queue in place and take");
    p.register(1, 100, 7, "a").unwrap();
    let registered = p.slot_bytes();
    assert_eq!(p.fire(1, 11), Some("a"));
    p.register(2, 100, 7, "b").unwrap();
    assert_eq!(p.cancel(100, 7).map(|r| r.map(|v| v.len())), Ok(Some(1)));
    assert_eq!(p.slot_bytes(), registered, "fire and cancel");
    let _ = p.close();
    assert_eq!(p.slot_bytes(), 0, "closed");
}

#[test]
fn a_registration_fires_once() {
    let mut p = Port::new();
    p.register(1, 100, 7, "a").unwrap();
    assert_eq!(p.fire(1, 11), Some("a"));
    assert_eq!(p.fire(1, 12), None);
    assert_eq!(p.forget(1), None);
    assert_eq!((p.pop(), p.pop()), (Some(11), None));
}

#[test]
fn cancel_removes_matching_registrations_and_their_packets_only() {
    let mut p = Port::new();
    for (id, key) in [(1, 128), (2, 13), (3, 7), (4, 13)] {
        p.register(id, 100, key, "r").unwrap();
    }
    p.register(5, 200, 13, "other handle").unwrap();
    p.queue_user(13).unwrap();
    assert_eq!(p.cancel(100, 13).unwrap().map(|v| v.len()), Some(2));
    assert_eq!(p.registrations(), 3);
    assert_eq!(p.cancel(100, 13), Ok(None), "nothing left: NOT_FOUND");
    // A queued signal packet is removed by the cancel; the user packet stays.
    assert_eq!(p.fire(1, 1280), Some("r"));
    assert_eq!(p.cancel(100, 128).unwrap().map(|v| v.len()), Some(0));
    assert_eq!(p.pop(), Some(13));
    assert_eq!(p.pop(), None);
    assert_eq!(p.cancel(100, 128), Ok(None));
}

#[test]
fn close_refuses_more_and_gives_registrations_back() {
    let mut p = Port::new();
    p.register(1, 1, 1, "a").unwrap();
    p.register(2, 1, 2, "b").unwrap();
    p.queue_user(5).unwrap();
    assert_eq!(p.fire(2, 6), Some("b"));
    let (dropped, regs) = p.close();
    assert_eq!(dropped, 2);
    assert_eq!(regs.collect::<Vec<_>>(), alloc::vec!["a"]);
    assert!(p.is_closed());
    assert_eq!(p.user_packets(), 0);
    assert_eq!(p.queue_user(1), Err(ZxError::BadState));
    assert_eq!(p.queue_user_in_place(|_: &mut u64| unreachable!()), Err(ZxError::BadState));
    assert_eq!(p.register(3, 1, 1, "c"), Err(ZxError::BadState));
    assert_eq!(Port::new().register(3, 0, 1, "serial 0"), Err(ZxError::InvalidArgs));
    assert_eq!(p.pop(), None);
    assert_eq!(p.take_front_if(|_: &u64| unreachable!()), None);
    // Closed while full: still BAD_STATE, not SHOULD_WAIT.
    let mut full: PortQueue<u32, u32> = PortQueue::new();
    while full.queue_user(0).is_ok() {}
    assert_eq!(full.queue_user(0), Err(ZxError::ShouldWait));
    let _ = full.close();
    assert_eq!((full.queue_user(0), full.user_packets()), (Err(ZxError::BadState), 0));
}

/// Random queues, registrations, fires, forgets, pops and cancels against a model: FIFO
/// order, the user-packet limit, one-shot registrations, cancel's reach, and the slot
/// invariant (a fire never needs memory).
#[test]
fn port_queue_randomized_against_a_model() {
    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    enum Pkt {
        #[default]
        Blank,
        User(u64),
        Signal(u64, u64, u64),
    }
    for seed in 1..=20u64 {
        let mut rng = Rng(0xC0FF_EE00 + seed * 104_729);
        let mut p: PortQueue<Pkt, u64> = PortQueue::new();
        let mut packets: VecDeque<Pkt> = VecDeque::new();
        let mut regs: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        let mut next = 0u64;
        let mut fired = 0;
        for _ in 0..20_000 {
            next += 1;
            let (source, key) = (1 + rng.below(3), rng.below(3));
            match rng.below(12) {
                0..=2 => {
                    let users = packets.iter().filter(|x| matches!(x, Pkt::User(_))).count();
                    // Half the packets are written in place, and one in four of those
                    // fails to be (a faulting copy): nothing changes then.
                    let (r, fills) = match rng.below(4) {
                        0 | 1 => (p.queue_user(Pkt::User(next)), true),
                        // In place only into a free slot (it never grows the FIFO):
                        // without one, nothing changes, as when the fill fails.
                        2 => {
                            let room = p.capacity_for_test() > p.len() + p.registrations();
                            let r = p.queue_user_in_place(|slot: &mut Pkt| {
                                *slot = Pkt::User(next);
                                true
                            });
                            (r.map(|filled| assert_eq!(filled, room)), room)
                        }
                        _ => (p.queue_user_in_place(|_: &mut Pkt| false).map(|filled| assert!(!filled)), false),
                    };
                    if users >= MAX_USER_PACKETS {
                        assert_eq!(r, Err(ZxError::ShouldWait));
                    } else {
                        assert_eq!(r, Ok(()));
                        if fills {
                            packets.push_back(Pkt::User(next));
                        }
                    }
                    assert_eq!(p.front(), packets.front());
                }
                3..=4 => {
                    p.register(next, source, key, next).unwrap();
                    regs.insert(next, (source, key));
                }
                5..=6 => {
                    let id = regs.keys().copied().nth(rng.below(regs.len() as u64 + 1) as usize).unwrap_or(0);
                    // The packet records its registration's (source, key), as the kernel's
                    // origin does.
                    let (s, k) = regs.get(&id).copied().unwrap_or((source, key));
                    let cap = p.capacity_for_test();
                    let got = p.fire(id, Pkt::Signal(id, s, k));
                    assert_eq!(p.capacity_for_test(), cap, "a fire allocated");
                    match regs.remove(&id) {
                        Some(_) => {
                            assert_eq!(got, Some(id));
                            packets.push_back(Pkt::Signal(id, s, k));
                            fired += 1;
                        }
                        None => assert_eq!(got, None),
                    }
                }
                7 => {
                    let id = regs.keys().copied().next().unwrap_or(0);
                    assert_eq!(p.forget(id), regs.remove(&id).map(|_| id));
                }
                8..=9 => assert_eq!(p.pop(), packets.pop_front()),
                10 => {
                    let gone: Vec<u64> =
                        regs.iter().filter(|(_, sk)| **sk == (source, key)).map(|(id, _)| *id).collect();
                    for id in &gone {
                        regs.remove(id);
                    }
                    let before = packets.len();
                    packets.retain(|x| !matches!(x, Pkt::Signal(_, s, k) if (*s, *k) == (source, key)));
                    let removed_packets = before - packets.len();
                    match p.cancel(source, key).unwrap() {
                        None => assert!(gone.is_empty() && removed_packets == 0),
                        Some(mut list) => {
                            list.sort();
                            assert_eq!(list, gone);
                            assert!(!gone.is_empty() || removed_packets > 0);
                        }
                    }
                }
                _ => {
                    if rng.chance(1) {
                        let (dropped, back) = p.close();
                        let mut back: Vec<u64> = back.collect();
                        back.sort();
                        assert_eq!(dropped, packets.len());
                        assert_eq!(back, regs.keys().copied().collect::<Vec<_>>());
                        p = PortQueue::new();
                        packets.clear();
                        regs.clear();
                    }
                }
            }
            assert_eq!(p.len(), packets.len());
            assert_eq!(p.registrations(), regs.len());
            assert!(p.capacity_for_test() >= p.len() + p.registrations(), "slot invariant");
        }
        assert!(fired > 0);
    }
}

// ----- timer ------------------------------------------------------------------------

#[test]
fn timer_set_in_the_past_signals_now() {
    let mut t = TimerState::new();
    for deadline in [0, 1, i64::MIN, 500, 1000] {
        assert_eq!(t.set(deadline, 0, 1000, 9), (None, SetOutcome::SignalNow));
        assert!(!t.armed());
        assert_eq!(t.deadline(), 0);
    }
}

#[test]
fn timer_rearm_cancels_the_old_entry_and_fires_only_the_new_one() {
    let mut t = TimerState::new();
    assert_eq!(t.set(2000, 5, 1000, 1), (None, SetOutcome::Arm(1)));
    assert_eq!((t.deadline(), t.slack()), (2000, 5));
    assert_eq!(t.set(3000, 0, 1000, 2), (Some(1), SetOutcome::Arm(2)));
    assert!(!t.fire(1, 5000), "a stale entry");
    assert!(!t.fire(2, 2999), "early");
    assert!(t.fire(2, 3000));
    assert!(!t.fire(2, 3001), "once");
    assert_eq!(t.deadline(), 0);
    assert_eq!(t.set(4000, 0, 3001, 3), (None, SetOutcome::Arm(3)));
    assert_eq!(t.cancel(), Some(3));
    assert_eq!(t.cancel(), None);
    assert!(!t.fire(3, 5000));
}

/// Random sets, cancels and due entries on a moving clock: a timer fires only for its
/// current entry, at or after the deadline, at most once per arming.
#[test]
fn timer_randomized_never_early_never_stale() {
    let mut rng = Rng(0x1234_5678_9ABC);
    let mut t = TimerState::new();
    let mut now = 0i64;
    let mut token = 0u64;
    let mut entries: Vec<(i64, u64)> = Vec::new(); // the deadline queue: (deadline, token)
    let mut armed: Option<(i64, u64)> = None;
    let mut fires = 0;
    for _ in 0..50_000 {
        now += rng.below(50) as i64;
        match rng.below(4) {
            0 => {
                token += 1;
                let deadline = now - 100 + rng.below(400) as i64;
                let (old, outcome) = t.set(deadline, rng.below(10) as i64, now, token);
                assert_eq!(old, armed.map(|(_, tok)| tok));
                if let Some(old) = old {
                    entries.retain(|(_, tok)| *tok != old);
                }
                if deadline <= now {
                    assert_eq!(outcome, SetOutcome::SignalNow);
                    armed = None;
                } else {
                    assert_eq!(outcome, SetOutcome::Arm(token));
                    armed = Some((deadline, token));
                    entries.push((deadline, token));
                }
            }
            1 => {
                let old = t.cancel();
                assert_eq!(old, armed.map(|(_, tok)| tok));
                entries.retain(|(_, tok)| Some(*tok) != old);
                armed = None;
            }
            _ => {
                // Sometimes an entry is handed over late or a stale one early.
                let due: Vec<(i64, u64)> = entries.iter().copied().filter(|(d, _)| *d <= now).collect();
                for (d, tok) in due {
                    let fired = t.fire(tok, now);
                    assert_eq!(fired, armed == Some((d, tok)));
                    assert!(!fired || now >= d, "early");
                    if fired {
                        fires += 1;
                        armed = None;
                    }
                    entries.retain(|(_, x)| *x != tok);
                }
                if rng.chance(5) {
                    assert!(!t.fire(token + 1000, now), "an unknown token");
                }
            }
        }
        assert_eq!(t.deadline(), armed.map_or(0, |(d, _)| d));
    }
    assert!(fires > 100);
}

#[test]
fn ring_keeps_order_across_wraps_and_growth() {
    let mut rng = Rng(0x5EED_0004);
    let mut ring: Ring<u64> = Ring::new();
    let mut model: VecDeque<u64> = VecDeque::new();
    let mut next = 0u64;
    for _ in 0..20_000 {
        if rng.below(100) < 52 || model.is_empty() {
            assert_eq!(ring.has_room(), ring.len() < ring.capacity());
            if ring.has_room() && rng.chance(2) {
                let capacity_before = ring.capacity();
                ring.push_into_room(next);
                assert_eq!(ring.capacity(), capacity_before, "a push into room does not grow");
            } else {
                assert_eq!(ring.push_back(next), Ok(()));
            }
            model.push_back(next);
            next += 1;
        } else {
            assert_eq!(ring.pop_front(), model.pop_front());
        }
        assert_eq!(ring.len(), model.len());
        assert_eq!(ring.is_empty(), model.is_empty());
        assert_eq!(ring.front(), model.front());
        assert!(ring.capacity() >= ring.len());
        // It grows only when full, by doubling from 4.
        assert!(ring.capacity() == 0 || ring.capacity().is_power_of_two());
    }
    assert!(ring.iter().eq(model.iter()));
    let all: VecDeque<u64> = core::mem::take(&mut ring).collect();
    assert_eq!(all, model);
    assert_eq!(ring.pop_front(), None);
    assert_eq!(ring.front(), None);
}
