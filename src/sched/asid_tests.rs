//! Host tests of the ASID allocator (src/sched/asid.rs): exhaustion and roll-over with
//! 8-bit ids, reservation of the ids CPUs run, reuse of released ids, and a randomized
//! run against a model of every CPU's TLB that catches any stale translation.
extern crate std;

use super::*;
use alloc::vec::Vec;
use std::collections::BTreeSet;
use std::vec;

/// The allocator and the per-CPU words, used as the kernel uses them (`kernel::aspace`):
/// a switch tries the lock-free path first.
struct Asids {
    allocator: AsidAllocator,
    slots: ActiveAsids,
}

impl Asids {
    fn new(bits: u8) -> Self {
        Asids { allocator: AsidAllocator::new(bits), slots: ActiveAsids::new() }
    }
    fn activate(&mut self, cpu: usize, tag: &mut AsidTag) -> ZxResult<bool> {
        if self.slots.try_activate(cpu, *tag) {
            return Ok(false);
        }
        self.allocator.activate(&self.slots, cpu, tag)
    }
    fn deactivate(&mut self, cpu: usize) -> ZxResult {
        self.allocator.deactivate(&self.slots, cpu)
    }
    fn release(&mut self, tag: &mut AsidTag) -> ZxResult {
        self.allocator.release(&self.slots, tag)
    }
    fn active(&self, cpu: usize) -> Option<AsidTag> {
        self.allocator.active(&self.slots, cpu)
    }
    fn generation(&self) -> u64 {
        self.allocator.generation()
    }
    fn ids_in_use(&self) -> usize {
        self.allocator.ids_in_use()
    }
    fn bits(&self) -> u8 {
        self.allocator.bits()
    }
    fn capacity(&self) -> usize {
        self.allocator.capacity()
    }
}

#[test]
fn a_switch_takes_the_lock_free_path_only_when_it_may() {
    let mut asids = Asids::new(8);
    let (mut a, _) = fresh(&mut asids, 0);
    // Current generation, no roll-over since: lock-free, on any CPU.
    assert!(asids.slots.try_activate(0, a));
    assert!(asids.slots.try_activate(1, a));
    assert_eq!((asids.active(0), asids.active(1)), (Some(a), Some(a)));
    // A tag of no generation, or a CPU past the limit: the lock.
    assert!(!asids.slots.try_activate(0, AsidTag::NONE));
    assert!(!asids.slots.try_activate(MAX_CPUS, a));
    // Going idle keeps the lock-free path open (no flush is owed).
    asids.deactivate(1).unwrap();
    assert_eq!(asids.active(1), None);
    assert!(asids.slots.try_activate(1, a));
    // After a roll-over every CPU goes through the lock once (and flushes there).
    while asids.generation() == 1 {
        fresh(&mut asids, 2);
    }
    for cpu in 0..MAX_CPUS {
        assert!(!asids.slots.try_activate(cpu, a), "cpu {cpu}");
    }
    // Idle after the roll-over: still through the lock, still owing the flush.
    asids.deactivate(3).unwrap();
    let (mut b, _) = fresh(&mut asids, 4);
    assert!(!asids.slots.try_activate(3, b));
    assert_eq!(asids.activate(3, &mut b), Ok(true));
    assert!(asids.slots.try_activate(3, b), "flushed: lock-free again");
    // `a` is of the old generation: the lock renews it (its id was reserved: CPUs 0 and
    // 1 still run it), then the lock-free path takes it.
    let old_id = a.asid();
    assert_eq!(asids.activate(0, &mut a), Ok(true));
    assert_eq!((a.asid(), a.generation()), (old_id, 2));
    assert!(asids.slots.try_activate(0, a));
}

#[test]
fn a_lock_free_switch_and_a_roll_over_are_ordered_on_the_cpu_word() {
    // The compare-and-swap of a lock-free switch on CPU 1 lands before or after the
    // roll-over's exchange of CPU 1's word (another CPU rolls over meanwhile).
    for switch_first in [true, false] {
        let mut asids = Asids::new(8);
        let (a, _) = fresh(&mut asids, 0);
        let (b, _) = fresh(&mut asids, 1);
        asids.deactivate(0).unwrap();
        // CPU 1 starts its switch to `a`: it reads its word and the generation.
        let word = asids.slots.slots[1].load(Ordering::Relaxed);
        assert!(word != SLOT_ROLLED && a.generation() == asids.slots.generation.load(Ordering::Relaxed));
        let cas = |asids: &Asids| {
            asids.slots.slots[1].compare_exchange(word, a.to_bits(), Ordering::Relaxed, Ordering::Relaxed).is_ok()
        };
        let switched = if switch_first { cas(&asids) } else { false };
        // CPU 2 exhausts the generation.
        let mut newer = Vec::new();
        while asids.generation() == 1 {
            newer.push(fresh(&mut asids, 2).0);
        }
        if switch_first {
            assert!(switched);
            // CPU 1 runs `a`, whose id was reserved: no new tag has it.
            assert!(newer.iter().filter(|t| t.generation() == 2).all(|t| t.asid() != a.asid()));
            assert_eq!(asids.active(1), Some(a));
        } else {
            assert!(!cas(&asids), "the roll-over took the word: the switch must take the lock");
            // CPU 1 still runs `b`, whose id was reserved instead.
            assert!(newer.iter().filter(|t| t.generation() == 2).all(|t| t.asid() != b.asid()));
            assert_eq!(asids.active(1), Some(b));
        }
    }
}

/// Activates a fresh address space on `cpu` and returns its tag.
fn fresh(allocator: &mut Asids, cpu: usize) -> (AsidTag, bool) {
    let mut tag = AsidTag::NONE;
    let flush = allocator.activate(cpu, &mut tag).unwrap();
    (tag, flush)
}

#[test]
fn widths_and_capacities() {
    assert_eq!((Asids::new(8).bits(), Asids::new(8).capacity()), (8, 255));
    assert_eq!((Asids::new(16).bits(), Asids::new(16).capacity()), (16, 65_535));
    // Anything else falls back to the 8-bit ids every CPU has.
    for bits in [0, 4, 12, 17, 255] {
        assert_eq!(Asids::new(bits).bits(), 8, "{bits}");
    }
    let allocator = Asids::new(8);
    assert_eq!((allocator.generation(), allocator.ids_in_use()), (1, 0));
    assert_eq!(AsidTag::default(), AsidTag::NONE);
}

#[test]
fn ids_run_from_1_and_0_is_never_handed_out() {
    let mut allocator = Asids::new(8);
    let mut seen = BTreeSet::new();
    for _ in 0..255 {
        let (tag, flush) = fresh(&mut allocator, 0);
        assert!(!flush);
        assert_eq!(tag.generation(), 1);
        assert!(tag.asid() != 0 && seen.insert(tag.asid()), "{tag:?}");
    }
    assert_eq!(seen.len(), 255);
    assert_eq!(allocator.ids_in_use(), 255);
}

#[test]
fn a_tag_of_the_current_generation_is_kept() {
    let mut allocator = Asids::new(8);
    let (mut tag, _) = fresh(&mut allocator, 0);
    let first = tag;
    for cpu in [0, 1, 2, 0, 7] {
        assert_eq!(allocator.activate(cpu, &mut tag), Ok(false));
        assert_eq!(tag, first);
        assert_eq!(allocator.active(cpu), Some(first));
    }
    assert_eq!(allocator.ids_in_use(), 1);
}

#[test]
fn exhaustion_rolls_over_and_every_cpu_flushes_once() {
    let mut allocator = Asids::new(8);
    let mut tags: Vec<AsidTag> = (0..255).map(|_| fresh(&mut allocator, 0).0).collect();
    // CPU 0 runs the last one; CPU 1 ran nothing user.
    let running = *tags.last().unwrap();
    assert_eq!(allocator.active(0), Some(running));

    // The 256th address space: a new generation, and CPU 1 flushes.
    let (new, flush) = fresh(&mut allocator, 1);
    assert!(flush);
    assert_eq!(allocator.generation(), 2);
    assert_eq!(new.generation(), 2);
    // CPU 0's id was reserved, so the new space got another one.
    assert_ne!(new.asid(), running.asid());
    assert_eq!(allocator.ids_in_use(), 2);

    // Every other CPU owes one flush, due at its next activation only.
    for (cpu, tag) in tags.iter_mut().enumerate().take(MAX_CPUS).skip(2) {
        assert_eq!(allocator.activate(cpu, tag), Ok(true), "cpu {cpu}");
        assert_eq!(allocator.activate(cpu, tag), Ok(false), "cpu {cpu}");
        assert_eq!(tag.generation(), 2);
    }
    // CPU 0 has not switched yet: it still runs the old tag, and flushes on its switch.
    assert_eq!(allocator.active(0), Some(running));
    let mut again = running;
    assert_eq!(allocator.activate(0, &mut again), Ok(true));
    assert_eq!(again.asid(), running.asid(), "the reserved id is kept");
    assert_eq!(again.generation(), 2);
    assert_eq!(allocator.activate(1, &mut tags[0]), Ok(false), "CPU 1 flushed already");
}

#[test]
fn ids_running_at_a_roll_over_are_reserved_for_their_owners() {
    let mut allocator = Asids::new(8);
    let (mut a, _) = fresh(&mut allocator, 0);
    let (mut b, _) = fresh(&mut allocator, 1);
    // The same address space on two CPUs (two threads of one process).
    let (mut c, _) = fresh(&mut allocator, 2);
    allocator.activate(3, &mut c).unwrap();
    let (a_id, b_id, c_id) = (a.asid(), b.asid(), c.asid());
    // Exhaust the generation from CPU 4, then roll over several times.
    let mut others = Vec::new();
    while allocator.generation() < 4 {
        others.push(fresh(&mut allocator, 4).0);
    }
    // Nothing else got a reserved id in any later generation.
    for tag in others.iter().filter(|t| t.generation() > 1) {
        assert!(![a_id, b_id, c_id].contains(&tag.asid()), "{tag:?}");
    }
    // The owners keep their ids whichever CPU activates them next, and every CPU that
    // still runs one of them moves along.
    allocator.activate(5, &mut a).unwrap();
    allocator.activate(1, &mut b).unwrap();
    allocator.activate(6, &mut c).unwrap();
    assert_eq!((a.asid(), b.asid(), c.asid()), (a_id, b_id, c_id));
    assert_eq!(allocator.active(0), Some(a));
    assert_eq!(allocator.active(2), Some(c));
    assert_eq!(allocator.active(3), Some(c));
    assert!([a, b, c].iter().all(|t| t.generation() == 4));
}

#[test]
fn an_id_no_cpu_runs_is_not_reserved() {
    let mut allocator = Asids::new(8);
    let (mut a, _) = fresh(&mut allocator, 0);
    let a_id = a.asid();
    allocator.deactivate(0).unwrap();
    let mut last = AsidTag::NONE;
    let mut new = AsidTag::NONE;
    while allocator.generation() == 1 {
        last = new;
        new = fresh(&mut allocator, 1).0;
    }
    // Only what CPU 1 ran was reserved: the search restarts at 1 and finds `a`'s old id
    // free, so the roll-over's new address space gets it.
    assert_eq!(allocator.ids_in_use(), 2);
    assert_eq!(new.asid(), a_id);
    assert_ne!(last.asid(), a_id);
    // `a` itself gets a new id, not its old one.
    allocator.activate(0, &mut a).unwrap();
    assert_eq!(a.generation(), 2);
    assert!(a.asid() != a_id && a.asid() != last.asid());
}

#[test]
fn released_ids_are_reused_without_a_roll_over() {
    let mut allocator = Asids::new(8);
    let mut tags: Vec<AsidTag> = (0..255).map(|_| fresh(&mut allocator, 0).0).collect();
    allocator.deactivate(0).unwrap();
    let freed = tags[16].asid();
    allocator.release(&mut tags[16]).unwrap();
    assert_eq!(tags[16], AsidTag::NONE);
    assert_eq!(allocator.ids_in_use(), 254);
    let (tag, flush) = fresh(&mut allocator, 3);
    assert_eq!((tag.asid(), tag.generation(), flush), (freed, 1, false));
}

#[test]
fn a_released_id_rests_while_others_are_free() {
    let mut allocator = Asids::new(16);
    let (mut a, _) = fresh(&mut allocator, 0);
    allocator.deactivate(0).unwrap();
    let id = a.asid();
    allocator.release(&mut a).unwrap();
    let (b, _) = fresh(&mut allocator, 0);
    assert_ne!(b.asid(), id, "the search goes on from the last id handed out");
}

#[test]
fn release_refuses_a_running_address_space_and_is_otherwise_safe() {
    let mut allocator = Asids::new(8);
    let (mut a, _) = fresh(&mut allocator, 2);
    let before = a;
    assert_eq!(allocator.release(&mut a), Err(ZxError::BadState));
    assert_eq!(a, before);
    allocator.deactivate(2).unwrap();
    assert_eq!(allocator.release(&mut a), Ok(()));
    assert_eq!(allocator.release(&mut a), Ok(()), "NONE releases to nothing");

    // A tag of an old generation frees nothing: its id may be someone else's now.
    let (mut old, _) = fresh(&mut allocator, 0);
    allocator.deactivate(0).unwrap();
    let mut newer = Vec::new();
    while allocator.generation() == 1 {
        newer.push(fresh(&mut allocator, 1).0);
    }
    let in_use = allocator.ids_in_use();
    allocator.release(&mut old).unwrap();
    assert_eq!(allocator.ids_in_use(), in_use);
}

#[test]
fn cpus_past_the_limit_are_refused() {
    let mut allocator = Asids::new(8);
    let mut tag = AsidTag::NONE;
    assert_eq!(allocator.activate(MAX_CPUS, &mut tag), Err(ZxError::OutOfRange));
    assert_eq!(tag, AsidTag::NONE);
    assert_eq!(allocator.deactivate(usize::MAX), Err(ZxError::OutOfRange));
    assert_eq!(allocator.active(MAX_CPUS), None);
}

#[test]
fn sixteen_bit_ids_fill_up_and_roll_over_too() {
    let mut allocator = Asids::new(16);
    let mut seen = vec![false; 1 << 16];
    for _ in 0..65_535 {
        let (tag, flush) = fresh(&mut allocator, 0);
        assert!(!flush && !seen[usize::from(tag.asid())] && tag.asid() != 0);
        seen[usize::from(tag.asid())] = true;
    }
    let (tag, flush) = fresh(&mut allocator, 1);
    assert!(flush && tag.generation() == 2);
}

/// A random run of activations, switches to kernel-only, unmaps and releases over many
/// roll-overs, checked against a model of each CPU's TLB: entries are (id, address
/// space, version of its mappings). The kernel's side is played by the rules the
/// allocator documents: flush the local TLB when `activate` says so; invalidate by the
/// tag's id on unmap and before release. The checks:
///
/// - a CPU never uses an entry of its TTBR0 id that belongs to another address space or
///   to an older version of its own (a stale translation);
/// - a CPU runs an address space under the id in its tag (so invalidation by tag
///   reaches it);
/// - live tags of the current generation are distinct.
fn model_run(bits: u8, cpus: usize, max_spaces: usize, steps: usize, seed: u64) -> u64 {
    /// A live address space: its name, tag and the version of its mappings.
    struct Space {
        name: u32,
        tag: AsidTag,
        version: u32,
    }
    /// A TLB entry: (id, address space, version of its mappings).
    type Entry = (u16, u32, u32);

    let mut allocator = Asids::new(bits);
    let mut state = seed;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut spaces: Vec<Space> = Vec::new();
    let mut names = 0u32;
    // Per CPU: the address space in TTBR0, and the TLB.
    let mut running: Vec<Option<u32>> = vec![None; cpus];
    let mut tlb: Vec<BTreeSet<Entry>> = vec![BTreeSet::new(); cpus];
    let invalidate_everywhere = |tlb: &mut Vec<BTreeSet<Entry>>, asid: u16| {
        for entries in tlb.iter_mut() {
            entries.retain(|&(id, _, _)| id != asid);
        }
    };
    // For the uniqueness check: the step at which an id was last seen.
    let mut seen_at = vec![usize::MAX; 1 << 16];

    for step in 0..steps {
        let cpu = (next() % cpus as u64) as usize;
        let index = if spaces.is_empty() { 0 } else { (next() % spaces.len() as u64) as usize };
        match next() % 10 {
            // A new address space.
            0..=2 if spaces.len() < max_spaces => {
                spaces.push(Space { name: names, tag: AsidTag::NONE, version: 0 });
                names += 1;
            }
            // A switch, and the program runs and fills the TLB.
            0..=6 if !spaces.is_empty() => {
                let space = &mut spaces[index];
                if allocator.activate(cpu, &mut space.tag).unwrap() {
                    tlb[cpu].clear();
                }
                let id = space.tag.asid();
                assert_ne!(id, 0);
                for &(entry_id, owner, version) in &tlb[cpu] {
                    if entry_id == id {
                        assert_eq!((owner, version), (space.name, space.version), "stale entry for id {id}");
                    }
                }
                tlb[cpu].insert((id, space.name, space.version));
                running[cpu] = Some(space.name);
            }
            // To kernel-only (idle).
            7 => {
                allocator.deactivate(cpu).unwrap();
                running[cpu] = None;
            }
            // An unmap: new mappings, the old ones invalidated by the tag's id.
            8 if !spaces.is_empty() => {
                let space = &mut spaces[index];
                space.version += 1;
                if space.tag != AsidTag::NONE {
                    invalidate_everywhere(&mut tlb, space.tag.asid());
                }
                for (entries, _) in tlb.iter_mut().zip(&running).filter(|(_, r)| **r == Some(space.name)) {
                    entries.insert((space.tag.asid(), space.name, space.version));
                }
            }
            // The process ends: off every CPU, its id invalidated, then released.
            9 if !spaces.is_empty() => {
                let mut space = spaces.swap_remove(index);
                if running.contains(&Some(space.name)) {
                    assert_eq!(allocator.release(&mut space.tag), Err(ZxError::BadState));
                    for (c, runs) in running.iter_mut().enumerate().filter(|(_, r)| **r == Some(space.name)) {
                        allocator.deactivate(c).unwrap();
                        *runs = None;
                    }
                }
                invalidate_everywhere(&mut tlb, space.tag.asid());
                allocator.release(&mut space.tag).unwrap();
                assert_eq!(space.tag, AsidTag::NONE);
            }
            _ => {}
        }

        // Every CPU runs its address space under exactly the space's tag, so
        // invalidation by the tag reaches it.
        for (c, runs) in running.iter().enumerate() {
            let expected = runs.map(|name| spaces.iter().find(|s| s.name == name).unwrap().tag);
            assert_eq!(allocator.active(c), expected, "cpu {c}");
        }
        // No two live address spaces share an id within the current generation.
        let mut current = 0;
        for space in spaces.iter().filter(|s| s.tag.generation() == allocator.generation()) {
            let id = usize::from(space.tag.asid());
            assert_ne!(seen_at[id], step, "{:?} shared", space.tag);
            seen_at[id] = step;
            current += 1;
        }
        assert!(allocator.ids_in_use() >= current);
    }
    allocator.generation()
}

#[test]
fn randomized_model_run_with_8_bit_ids() {
    for seed in 1..=4u64 {
        let generations = model_run(8, MAX_CPUS, 600, 60_000, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        assert!(generations > 20, "only {generations} generations: the run barely rolled over");
    }
}

#[test]
fn randomized_model_run_with_few_cpus_and_16_bit_ids() {
    model_run(8, 1, 300, 20_000, 7);
    model_run(8, 2, 300, 20_000, 8);
    assert_eq!(model_run(16, 4, 1_000, 20_000, 9), 1);
}

#[test]
fn a_tag_survives_its_one_word_form() {
    let mut allocator = Asids::new(16);
    for cpu in 0..3 {
        let (tag, _) = fresh(&mut allocator, cpu);
        assert_eq!(AsidTag::from_bits(tag.to_bits()), tag);
    }
    let late = AsidTag::from_bits((12_345 << 16) | 0xfffe);
    assert_eq!((late.generation(), late.asid()), (12_345, 0xfffe));
    assert_eq!(AsidTag::from_bits(AsidTag::NONE.to_bits()), AsidTag::NONE);
}
