//! Host tests of the VMO store (src/vm/vmo.rs): every rule and error order, commit
//! accounting, copy-on-write isolation, slices, resizing, NO_MEMORY at every allocation,
//! and a randomized run against a byte-array model.
extern crate std;

use super::*;
use crate::test_rng::Rng;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use std::format;
use std::string::String;

const P: u64 = PAGE_SIZE;
const ALL_RIGHTS: u32 = rights::DEFAULT_VMO;

// ----- test doubles -----------------------------------------------------------------

/// Physical memory as a map of page buffers, with an optional allocation budget.
struct FakeMemory {
    pages: BTreeMap<u64, Box<[u8; PAGE_SIZE as usize]>>,
    next: u64,
    /// Allocations still allowed; `None` = unlimited.
    budget: Option<usize>,
}

impl FakeMemory {
    fn new() -> Self {
        FakeMemory { pages: BTreeMap::new(), next: 0x4000_0000, budget: None }
    }

    fn fail_after(&mut self, allocations: Option<usize>) {
        self.budget = allocations;
    }

    fn live(&self) -> u64 {
        self.pages.len() as u64
    }

    fn page(&self, pa: PhysAddr) -> &[u8; PAGE_SIZE as usize] {
        self.pages.get(&pa.0).expect("access to a page that is not allocated")
    }

    fn page_mut(&mut self, pa: PhysAddr) -> &mut [u8; PAGE_SIZE as usize] {
        self.pages.get_mut(&pa.0).expect("access to a page that is not allocated")
    }

    fn spend(&mut self) -> ZxResult {
        match &mut self.budget {
            Some(0) => Err(ZxError::NoMemory),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn fresh(&mut self, contents: [u8; PAGE_SIZE as usize]) -> PhysAddr {
        let pa = PhysAddr(self.next);
        self.next += P;
        self.pages.insert(pa.0, Box::new(contents));
        pa
    }
}

impl PhysMemory for FakeMemory {
    fn alloc_zeroed_page(&mut self) -> ZxResult<PhysAddr> {
        self.spend()?;
        Ok(self.fresh([0; PAGE_SIZE as usize]))
    }

    fn alloc_copy_of(&mut self, src: PhysAddr) -> ZxResult<PhysAddr> {
        self.spend()?;
        let contents = *self.page(src);
        Ok(self.fresh(contents))
    }

    fn zero_range(&mut self, pa: PhysAddr, offset: usize, len: usize) {
        self.page_mut(pa)[offset..offset + len].fill(0);
    }

    fn free_page(&mut self, pa: PhysAddr) {
        assert!(self.pages.remove(&pa.0).is_some(), "double free of {pa}");
    }
}

/// Records every cache maintenance call.
#[derive(Default)]
struct RecordingCache {
    calls: Vec<(&'static str, PhysAddr, usize)>,
}

impl CacheMaintenance for RecordingCache {
    fn clean(&mut self, pa: PhysAddr, len: usize) {
        self.calls.push(("clean", pa, len));
    }
    fn clean_invalidate(&mut self, pa: PhysAddr, len: usize) {
        self.calls.push(("clean_invalidate", pa, len));
    }
    fn invalidate(&mut self, pa: PhysAddr, len: usize) {
        self.calls.push(("invalidate", pa, len));
    }
    fn sync(&mut self, pa: PhysAddr, len: usize) {
        self.calls.push(("sync", pa, len));
    }
}

// ----- helpers: what the syscall layer does with the primitives ---------------------

/// `zx_vmo_write`: checks, then faults every page in first (so NO_MEMORY leaves the
/// contents unchanged), then copies.
fn write(store: &mut VmoStore, mem: &mut FakeMemory, id: VmoId, offset: u64, data: &[u8]) -> ZxResult {
    let len = data.len() as u64;
    store.check_read_write(id, offset, len)?;
    if len == 0 {
        return Ok(());
    }
    let first = offset / P;
    let last = (offset + len - 1) / P;
    for page in first..=last {
        store.page_for_write(id, page, mem)?;
    }
    let mut done = 0usize;
    while done < data.len() {
        let at = offset + done as u64;
        let in_page = (at % P) as usize;
        let n = (P as usize - in_page).min(data.len() - done);
        let frame = store.page_for_write(id, at / P, mem)?;
        mem.page_mut(frame)[in_page..in_page + n].copy_from_slice(&data[done..done + n]);
        done += n;
    }
    Ok(())
}

/// `zx_vmo_read`.
fn read(store: &VmoStore, mem: &FakeMemory, id: VmoId, offset: u64, len: u64) -> ZxResult<Vec<u8>> {
    store.check_read_write(id, offset, len)?;
    let mut out = vec![0u8; len as usize];
    let mut done = 0usize;
    while done < out.len() {
        let at = offset + done as u64;
        let in_page = (at % P) as usize;
        let n = (P as usize - in_page).min(out.len() - done);
        if let Some(page) = store.page_for_read(id, at / P) {
            out[done..done + n].copy_from_slice(&mem.page(page.pa)[in_page..in_page + n]);
        }
        done += n;
    }
    Ok(out)
}

fn committed(store: &VmoStore, id: VmoId) -> u64 {
    store.info(id).committed_bytes
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add((i % 251) as u8)).collect()
}

fn invalidations(store: &mut VmoStore) -> Vec<Invalidation> {
    store.take_invalidations().collect()
}

/// The slots not on the free list, with their indices (a free slot may keep a dead VMO,
/// see `Slot`).
fn live_slots(store: &VmoStore) -> impl Iterator<Item = (usize, &Slot)> {
    store.slots.iter().enumerate().filter(|(index, _)| !store.free_slots.contains(&(*index as u32)))
}

/// Every structural invariant of the store, plus frame conservation.
fn check_invariants(store: &VmoStore, mem: &FakeMemory) {
    let mut holders: BTreeMap<u64, Vec<VmoId>> = BTreeMap::new();
    let mut children: BTreeMap<VmoId, u64> = BTreeMap::new();
    let mut owned_sum = 0;
    for (index, slot) in live_slots(store) {
        let Some(vmo) = &slot.vmo else { continue };
        let id = VmoId::new(index as u32, slot.generation);
        owned_sum += vmo.owned_pages;
        if let Some(parent) = vmo.parent {
            assert!(store.contains(parent), "parent of {id:?} is gone");
            *children.entry(parent).or_default() += 1;
        }
        if vmo.refs == 0 {
            assert!(vmo.num_children > 0, "zombie {id:?} without children");
            assert!(vmo.page_list().is_none_or(|l| l.is_empty()), "zombie {id:?} holds pages");
        }
        if let Some(list) = vmo.page_list() {
            for (page, frame) in list.iter() {
                assert!(page < pages(vmo.size), "{id:?} holds page {page} past its end");
                holders.entry(pfn(frame)).or_default().push(id);
            }
        }
        let shared_owned = store.frames.values().filter(|m| m.owner == id).count();
        let private = vmo
            .page_list()
            .map_or(0, |list| list.iter().filter(|&(_, frame)| !store.frames.contains_key(&pfn(frame))).count());
        assert_eq!((shared_owned + private) as u64, vmo.owned_pages, "owned_pages of {id:?}");
    }
    for (index, slot) in live_slots(store) {
        let Some(vmo) = &slot.vmo else { continue };
        let id = VmoId::new(index as u32, slot.generation);
        assert_eq!(vmo.num_children, children.get(&id).copied().unwrap_or(0), "num_children of {id:?}");
    }
    assert_eq!(holders.len() as u64, store.committed_frames_total(), "frames held vs the committed count");
    let shared = holders.values().filter(|h| h.len() > 1).count();
    assert_eq!(shared, store.frames.len(), "shared frames vs frame table");
    for (key, meta) in &store.frames {
        assert!(!meta.others.is_empty(), "frame {key:#x} in the table with one holder");
        let mut expected: Vec<VmoId> = meta.others.iter().collect();
        expected.push(meta.owner);
        expected.sort();
        let mut actual = holders.get(key).cloned().unwrap_or_default();
        actual.sort();
        assert_eq!(expected, actual, "holders of frame {key:#x}");
    }
    assert_eq!(owned_sum, store.committed_frames_total());
    assert_eq!(mem.live(), store.committed_frames_total(), "frames in memory vs held");
}

// ----- creation ---------------------------------------------------------------------

#[test]
fn round_size_and_ranges() {
    assert_eq!(MAX_SIZE, 0xFFFF_FFFF_FFFE_0000);
    assert_eq!(round_size(0), Ok(0));
    assert_eq!(round_size(1), Ok(P));
    assert_eq!(round_size(MAX_SIZE), Ok(MAX_SIZE));
    assert_eq!(round_size(MAX_SIZE + 1), Err(ZxError::OutOfRange));
    assert_eq!(round_size(u64::MAX), Err(ZxError::OutOfRange));
    assert!(in_range(0, 10, 10));
    assert!(!in_range(1, 10, 10));
    assert!(!in_range(11, 0, 10));
    assert!(!in_range(u64::MAX, 2, u64::MAX));
    assert_eq!(trim_range(4, 100, 10), Some(6));
    assert_eq!(trim_range(10, 100, 10), Some(0));
    assert_eq!(trim_range(11, 0, 10), None);
    assert_eq!(trim_range(1, u64::MAX, 10), None);
}

#[test]
fn create_checks_options_then_size() {
    let mut store = VmoStore::new();
    assert_eq!(store.create(1, P, 1), Err(ZxError::InvalidArgs));
    assert_eq!(store.create(1, u64::MAX, 1 << 2), Err(ZxError::InvalidArgs));
    assert_eq!(store.create(1, u64::MAX, 0), Err(ZxError::OutOfRange));
    assert_eq!(store.create(1, MAX_SIZE + 1, 0), Err(ZxError::OutOfRange));
    let big = store.create(1, MAX_SIZE, 0).unwrap();
    assert_eq!(store.size(big), MAX_SIZE);
    let empty = store.create(2, 0, 0).unwrap();
    assert_eq!(store.size(empty), 0);

    let id = store.create(42, 5000, crate::abi::VMO_RESIZABLE).unwrap();
    assert_eq!(store.size(id), 2 * P);
    assert_eq!(store.content_size(id), 5000);
    assert!(store.is_resizable(id));
    assert!(!store.is_physical(id));
    assert_eq!(store.signals(id), signal::VMO_ZERO_CHILDREN);
    let info = store.info(id);
    assert_eq!(info.koid, 42);
    assert_eq!(info.flags, info::VMO_TYPE_PAGED | info::VMO_RESIZABLE);
    assert_eq!(info.committed_bytes, 0);
    assert_eq!(info.cache_policy, cache_policy::CACHED);
    assert_eq!(info.parent_koid, 0);
    assert_eq!(info.num_children, 0);
    assert_eq!(info.share_count, 1);
    assert_eq!(store.info(empty).flags, info::VMO_TYPE_PAGED);
}

#[test]
fn ids_are_reused_with_a_new_generation() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let a = store.create(1, P, 0).unwrap();
    store.release(a, &mut mem);
    assert!(!store.contains(a));
    let b = store.create(2, P, 0).unwrap();
    assert_eq!(a.index(), b.index());
    assert_ne!(a, b);
    assert!(store.contains(b));
    assert!(!store.contains(a));
    assert_eq!(store.koid(b), 2);
    assert_eq!(store.vmo_count(), 1);
}

/// The last release of a lone VMO (no page, parent, child or slice) takes the short way;
/// every other shape the general one: either way the store ends as it began, with every
/// frame back and no VMO left.
#[test]
fn last_releases_of_lone_and_linked_vmos_leave_nothing() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    for round in 0..3 {
        let lone = store.create(1, P, 0).unwrap();
        let paged = store.create(2, 2 * P, 0).unwrap();
        write(&mut store, &mut mem, paged, P, &[7; 10]).unwrap();
        let parent = store.create(3, 4 * P, 0).unwrap();
        write(&mut store, &mut mem, parent, 0, &[1; 10]).unwrap();
        let cow = store.create_child(parent, 4, child::SNAPSHOT, 0, 4 * P, false).unwrap();
        let slice = store.create_child(parent, 5, child::SLICE, P, P, false).unwrap();
        assert_eq!(store.vmo_count(), 5);
        // In a different order each round: parents before or after their children.
        let order = match round {
            0 => [lone, paged, parent, cow, slice],
            1 => [slice, cow, parent, paged, lone],
            _ => [parent, lone, slice, paged, cow],
        };
        for id in order {
            store.release(id, &mut mem);
            check_invariants(&store, &mem);
        }
        assert_eq!(store.vmo_count(), 0, "round {round}");
        assert_eq!(store.committed_frames_total(), 0, "round {round}");
        assert_eq!(store.take_invalidations().count(), 0);
    }
}

/// The `Debug` form of the VMO `create` makes with `koid` and `size`, to compare a
/// renewed VMO with.
fn fresh(koid: u64, size: u64, resizable: bool) -> alloc::string::String {
    let mut vmo = Vmo::new(koid, round_size(size).unwrap(), size, Backing::Paged(PageList::new()));
    vmo.resizable = resizable;
    vmo.pristine = true;
    alloc::format!("{vmo:?}")
}

/// A VMO that nothing changed since `create` (pristine) can be parked, and
/// `renew_parked` renews it in place under a new id into exactly what `create` makes;
/// any change, a second reference, a page or a child makes it not parkable.
#[test]
fn a_parked_vmo_is_renewed_into_a_new_one_under_a_new_id() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    // Any change after `create` makes a VMO not parkable (the store keeps that answer,
    // `Vmo::pristine`, and errs towards `false`): a name, a content size, a signal, a
    // zero page shown, a cache policy. Such a VMO is released and kept in its slot
    // instead (`a_kept_vmo_is_renewed_into_a_new_one` renews those fields).
    type Change<'a> = &'a dyn Fn(&mut VmoStore, VmoId, &mut RecordingCache);
    let changes: [Change; 5] = [
        &|store, id, _| store.set_name(id, b"busy"),
        &|store, id, _| store.set_content_size(id, 2 * P - 5),
        &|store, id, _| store.signal(id, 0, crate::abi::signal::USER_ALL),
        &|store, id, _| store.note_zero_page_shown(id),
        &|store, id, cache| store.set_cache_policy(id, cache_policy::UNCACHED, cache).unwrap(),
    ];
    for change in changes {
        let id = store.create(1, 3 * P, crate::abi::VMO_RESIZABLE).unwrap();
        assert!(store.parkable(id));
        change(&mut store, id, &mut cache);
        assert!(!store.parkable(id));
        store.release(id, &mut mem);
    }
    let id = store.create(1, 3 * P, crate::abi::VMO_RESIZABLE).unwrap();
    assert!(store.parkable(id));
    // The errors of `create`, in its order, change nothing.
    assert_eq!(store.renew_parked(id, 2, P, 4), Err(ZxError::InvalidArgs));
    assert_eq!(store.renew_parked(id, 2, u64::MAX, 4), Err(ZxError::InvalidArgs));
    assert_eq!(store.renew_parked(id, 2, u64::MAX, 0), Err(ZxError::OutOfRange));
    assert!(store.parkable(id));
    let again = store.renew_parked(id, 7, P + 1, 0).unwrap();
    assert_eq!(again.index(), id.index());
    assert_ne!(again, id);
    assert!(!store.contains(id));
    assert_eq!(store.vmo_count(), 1);
    assert_eq!(alloc::format!("{:?}", vmo_ref(&store.slots, again)), fresh(7, P + 1, false));
    // Not parkable with a second reference, a page, or a child.
    store.retain(again);
    assert!(!store.parkable(again));
    store.release(again, &mut mem);
    write(&mut store, &mut mem, again, 0, &[1]).unwrap();
    assert!(!store.parkable(again));
    let other = store.create(8, P, 0).unwrap();
    let child = store.create_child(other, 9, child::SNAPSHOT, 0, P, false).unwrap();
    assert!(!store.parkable(other) && !store.parkable(child));
    // A stale id is refused.
    assert_eq!(store.renew_parked(id, 10, P, 0), Err(ZxError::Internal));
    let third = store.create(10, 2 * P, crate::abi::VMO_RESIZABLE).unwrap();
    store.release(again, &mut mem);
    store.release(child, &mut mem);
    store.release(other, &mut mem);
    store.release(third, &mut mem);
    check_invariants(&store, &mem);
    assert_eq!(store.vmo_count(), 0);
}

/// A lone VMO's slot keeps it when it dies (see `Slot`), whatever its life changed (a
/// name, content size, user signals, cache policy, a page committed and decommitted
/// through a mapping that showed the zero page), and the next `create` renews it into
/// exactly what `Vmo::new` makes; a VMO with a page list directory, a child or a parent
/// is not kept.
#[test]
fn a_kept_vmo_is_renewed_into_a_new_one() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 3 * P, crate::abi::VMO_RESIZABLE).unwrap();
    store.set_name(id, b"busy");
    store.set_content_size(id, 2 * P - 5);
    store.signal(id, 0, crate::abi::signal::USER_ALL);
    store.note_zero_page_shown(id);
    store.set_cache_policy(id, cache_policy::UNCACHED, &mut cache).unwrap();
    store.set_cache_policy(id, cache_policy::WRITE_COMBINING, &mut cache).unwrap();
    store.release(id, &mut mem);
    assert!(store.slots[id.index()].vmo.as_ref().is_some_and(|vmo| vmo.keepable() && vmo.refs == 0));
    assert_eq!(store.vmo_count(), 0);
    let again = store.create(7, P + 1, 0).unwrap();
    assert_eq!(again.index(), id.index());
    assert_ne!(again, id);
    assert!(!store.contains(id));
    assert_eq!(alloc::format!("{:?}", vmo_ref(&store.slots, again)), fresh(7, P + 1, false));
    // A page committed and given back through a decommit leaves the list's directory:
    // not keepable, so the slot is emptied and the next VMO built anew.
    write(&mut store, &mut mem, again, 0, &[1]).unwrap();
    store.op_range(again, op::DECOMMIT, 0, P, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    store.release(again, &mut mem);
    assert!(store.slots[again.index()].vmo.is_none());
    let third = store.create(8, 2 * P, crate::abi::VMO_RESIZABLE).unwrap();
    assert_eq!(alloc::format!("{:?}", vmo_ref(&store.slots, third)), fresh(8, 2 * P, true));
    // A destroyed one-page VMO gives its directory to the spare lists: kept.
    write(&mut store, &mut mem, third, P, &[2]).unwrap();
    store.release(third, &mut mem);
    assert!(store.slots[third.index()].vmo.as_ref().is_some_and(Vmo::keepable));
    let fourth = store.create(9, P, 0).unwrap();
    assert_eq!(alloc::format!("{:?}", vmo_ref(&store.slots, fourth)), fresh(9, P, false));
    // A COW child and its parent are not kept; their slots serve new VMOs as new.
    let child = store.create_child(fourth, 10, child::SNAPSHOT, 0, P, false).unwrap();
    store.release(child, &mut mem);
    store.release(fourth, &mut mem);
    check_invariants(&store, &mem);
    for koid in 11..14 {
        let id = store.create(koid, P, 0).unwrap();
        assert_eq!(alloc::format!("{:?}", vmo_ref(&store.slots, id)), fresh(koid, P, false));
        check_invariants(&store, &mem);
    }
    assert_eq!(mem.live(), 0);
}

// ----- read / write -----------------------------------------------------------------

#[test]
fn read_write_check_order() {
    let mut store = VmoStore::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 2 * P, 0).unwrap();
    assert_eq!(store.check_read_write(id, 0, 2 * P), Ok(()));
    assert_eq!(store.check_read_write(id, 2 * P, 0), Ok(()));
    assert_eq!(store.check_read_write(id, 2 * P + 1, 0), Err(ZxError::OutOfRange));
    assert_eq!(store.check_read_write(id, P, P + 1), Err(ZxError::OutOfRange));
    assert_eq!(store.check_read_write(id, u64::MAX, 2), Err(ZxError::OutOfRange));

    store.set_cache_policy(id, cache_policy::UNCACHED, &mut cache).unwrap();
    // Uncached beats the range check, even for len 0 ...
    assert_eq!(store.check_read_write(id, 0, 0), Err(ZxError::BadState));
    assert_eq!(store.check_read_write(id, 10 * P, 1), Err(ZxError::BadState));
    // ... but not the overflow check.
    assert_eq!(store.check_read_write(id, u64::MAX, 2), Err(ZxError::OutOfRange));

    let phys = store.create_physical(2, PhysAddr(0x900_0000), P).unwrap();
    assert_eq!(store.check_read_write(phys, 0, 1), Err(ZxError::NotSupported));
    assert_eq!(store.check_read_write(phys, u64::MAX, 2), Err(ZxError::NotSupported));
    store.set_cache_policy(phys, cache_policy::CACHED, &mut cache).unwrap();
    assert_eq!(store.check_read_write(phys, 0, 1), Err(ZxError::NotSupported));
}

/// Issue 13, defect 3, in the redesign's ZX_INFO_TASK_STATS: the committed pages of a
/// mapping's range are counted from the page list, not page by page over the range, and
/// agree with `page_for_read` for paged VMOs, COW children, slices and physical VMOs.
#[test]
fn committed_pages_in_costs_what_is_committed() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    // 2^44 bytes with three pages committed, one of them in the sparse part. Page by
    // page this was 2^32 lookups (2^28 took 9 s); from the page list it is immediate.
    let huge = store.create(1, 1 << 44, 0).unwrap();
    for page in [0u64, 5, 1 << 31] {
        write(&mut store, &mut mem, huge, page * P, &[1]).unwrap();
    }
    let started = std::time::Instant::now();
    assert_eq!(store.committed_pages_in(huge, 0, 1 << 44), 3);
    assert_eq!(store.committed_pages_in(huge, P, (1 << 44) - P), 2);
    assert_eq!(store.committed_pages_in(huge, 0, u64::MAX), 3);
    assert_eq!(store.committed_pages_in(huge, 1 << 45, P), 0);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(2), "counting a 16 TiB range took {took:?}");
    // Against the page-by-page count on small VMOs of every kind.
    let parent = store.create(2, 8 * P, 0).unwrap();
    for page in [1u64, 2, 6] {
        write(&mut store, &mut mem, parent, page * P + 3, &[2]).unwrap();
    }
    let cow = store.create_child(parent, 3, child::SNAPSHOT, P, 6 * P, false).unwrap();
    write(&mut store, &mut mem, cow, 4 * P, &[3]).unwrap();
    let slice = store.create_child(parent, 4, child::SLICE, 2 * P, 4 * P, false).unwrap();
    let phys = store.create_physical(5, PhysAddr(0x900_0000), 3 * P).unwrap();
    for id in [parent, cow, slice, phys] {
        let size = store.size(id);
        for offset in (0..size + 2 * P).step_by(P as usize) {
            for len in [0, 1, P, 3 * P, u64::MAX] {
                let end = offset.saturating_add(len).min(size);
                let want = (offset / P..end.div_ceil(P)).filter(|&p| store.page_for_read(id, p).is_some()).count();
                assert_eq!(store.committed_pages_in(id, offset, len), want as u64, "{id:?} {offset:#x}+{len:#x}");
            }
        }
    }
    for id in [phys, slice, cow, parent, huge] {
        store.release(id, &mut mem);
    }
    assert_eq!(mem.live(), 0);
}

#[test]
fn writes_commit_and_reads_do_not() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let id = store.create(1, 3 * P, 0).unwrap();
    assert_eq!(read(&store, &mem, id, 0, 3 * P).unwrap(), vec![0; 3 * P as usize]);
    assert_eq!(committed(&store, id), 0);
    assert_eq!(mem.live(), 0);

    let data = pattern(7, 100);
    write(&mut store, &mut mem, id, P - 50, &data).unwrap();
    assert_eq!(committed(&store, id), 2 * P);
    assert_eq!(read(&store, &mem, id, P - 50, 100).unwrap(), data);
    assert_eq!(read(&store, &mem, id, 2 * P, 10).unwrap(), vec![0; 10]);
    assert_eq!(store.page_for_read(id, 2), None);
    assert_eq!(store.page_for_read(id, 3), None);
    assert_eq!(store.page_for_write(id, 3, &mut mem), Err(ZxError::OutOfRange));
    check_invariants(&store, &mem);

    store.release(id, &mut mem);
    assert_eq!(mem.live(), 0);
    assert_eq!(store.vmo_count(), 0);
}

#[test]
fn private_page_is_the_fast_path_of_page_for_write() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let id = store.create(1, 2 * P, 0).unwrap();
    assert_eq!(store.private_page(id, 0), None, "uncommitted");
    let frame = store.page_for_write(id, 0, &mut mem).unwrap();
    assert_eq!(store.private_page(id, 0), Some(frame));
    assert_eq!(store.private_page(id, 2), None, "past the end");
    // Once a snapshot shares the frame, the general path must fork it.
    let child = store.create_child(id, 2, child::SNAPSHOT, 0, 2 * P, false).unwrap();
    assert_eq!(store.private_page(id, 0), None, "shared");
    assert_eq!(store.private_page(child, 0), None, "shared");
    let forked = store.page_for_write(child, 0, &mut mem).unwrap();
    assert_ne!(forked, frame);
    assert_eq!(store.private_page(child, 0), Some(forked));
    assert_eq!(store.private_page(id, 0), Some(frame), "private again");
    check_invariants(&store, &mem);
    store.release(child, &mut mem);
    store.release(id, &mut mem);
    assert_eq!(mem.live(), 0);
}

/// `private_pages(id, first, out)` is `private_page` for `first`, `first + 1`, ... up to
/// the first `None`, `out.len()` pages, the end of a 128-page directory chunk or the
/// end of the VMO.
fn check_private_pages(store: &VmoStore, id: VmoId, pages: u64) {
    for first in 0..pages + 2 {
        for want in [0usize, 1, 5, 16, 200] {
            let mut out = vec![PhysAddr(0); want];
            let n = store.private_pages(id, first, &mut out);
            let mut expected = 0;
            while expected < want
                && (first + expected as u64 == first || !(first + expected as u64).is_multiple_of(128))
                && let Some(frame) = store.private_page(id, first + expected as u64)
            {
                assert_eq!(out[expected], frame, "page {} of a run from {first}", first + expected as u64);
                expected += 1;
            }
            assert_eq!(n, expected, "run from {first}, room for {want}");
        }
    }
}

#[test]
fn private_pages_is_private_page_for_a_run() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let pages = 260;
    let id = store.create(1, pages * P, 0).unwrap();
    check_private_pages(&store, id, pages);
    for index in (0..pages).filter(|i| i % 7 != 3) {
        store.page_for_write(id, index, &mut mem).unwrap();
    }
    check_private_pages(&store, id, pages);
    // Pages a snapshot shares end a run; a forked page is private again.
    let child = store.create_child(id, 2, child::SNAPSHOT, 0, 20 * P, false).unwrap();
    check_private_pages(&store, id, pages);
    check_private_pages(&store, child, 20);
    store.page_for_write(child, 1, &mut mem).unwrap();
    store.page_for_write(id, 2, &mut mem).unwrap();
    check_private_pages(&store, id, pages);
    check_private_pages(&store, child, 20);
    check_invariants(&store, &mem);
    store.release(child, &mut mem);
    store.release(id, &mut mem);
    assert_eq!(mem.live(), 0);
}

#[test]
fn write_to_an_owned_page_changes_nothing_else() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let id = store.create(1, 2 * P, 0).unwrap();
    // No mapping ever showed the zero page: a fresh commit has nothing to invalidate.
    store.page_for_write(id, 1, &mut mem).unwrap();
    assert!(invalidations(&mut store).is_empty());
    // Once one may have, the fresh commit must make it refault.
    store.note_zero_page_shown(id);
    let first = store.page_for_write(id, 0, &mut mem).unwrap();
    assert_eq!(invalidations(&mut store), vec![Invalidation { vmo: id, first_page: 0, page_count: 1 }]);
    mem.fail_after(Some(0));
    assert_eq!(store.page_for_write(id, 0, &mut mem), Ok(first));
    assert!(invalidations(&mut store).is_empty());
    assert_eq!(store.page_for_read(id, 0), Some(PageRef { pa: first, shared: false }));
    assert_eq!(mem.live(), 2);
}

// ----- copy-on-write children -------------------------------------------------------

#[test]
fn cow_child_is_isolated_both_ways() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let parent = store.create(1, 2 * P, 0).unwrap();
    write(&mut store, &mut mem, parent, 0, &pattern(1, 2 * P as usize)).unwrap();
    let child = store.create_child(parent, 2, child::SNAPSHOT, 0, 2 * P, true).unwrap();
    assert_eq!(read(&store, &mem, child, 0, 2 * P).unwrap(), pattern(1, 2 * P as usize));
    assert!(store.page_for_read(child, 0).unwrap().shared);
    assert!(store.page_for_read(parent, 0).unwrap().shared);

    write(&mut store, &mut mem, child, 0, b"child").unwrap();
    write(&mut store, &mut mem, parent, P, b"parent").unwrap();
    assert_eq!(&read(&store, &mem, parent, 0, 5).unwrap(), &pattern(1, 5));
    assert_eq!(&read(&store, &mem, child, 0, 5).unwrap(), b"child");
    assert_eq!(&read(&store, &mem, child, P, 6).unwrap(), &pattern(1, P as usize + 6)[P as usize..]);
    assert_eq!(&read(&store, &mem, parent, P, 6).unwrap(), b"parent");
    // After both forks nothing is shared any more.
    assert!(!store.page_for_read(child, 0).unwrap().shared);
    assert!(!store.page_for_read(parent, 1).unwrap().shared);
    check_invariants(&store, &mem);

    // Closing one side never changes the other.
    store.release(parent, &mut mem);
    assert_eq!(&read(&store, &mem, child, 0, 5).unwrap(), b"child");
    assert_eq!(&read(&store, &mem, child, P, 6).unwrap(), &pattern(1, P as usize + 6)[P as usize..]);
    check_invariants(&store, &mem);
    store.release(child, &mut mem);
    assert_eq!(mem.live(), 0);
    assert_eq!(store.vmo_count(), 0);
}

#[test]
fn obj_mem_accounting() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let vmo = store.create(1, 2 * P, 0).unwrap();
    write(&mut store, &mut mem, vmo, 0, &[1]).unwrap();
    write(&mut store, &mut mem, vmo, P, &[1]).unwrap();
    let clone = store.create_child(vmo, 2, child::SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * P, true).unwrap();
    assert_eq!(committed(&store, vmo), 2 * P);
    assert_eq!(committed(&store, clone), 0);

    write(&mut store, &mut mem, clone, 0, &[2]).unwrap();
    assert_eq!(committed(&store, vmo), 2 * P);
    assert_eq!(committed(&store, clone), P);

    write(&mut store, &mut mem, vmo, P, &[2]).unwrap();
    assert_eq!(committed(&store, vmo), 2 * P);
    assert_eq!(committed(&store, clone), 2 * P);

    write(&mut store, &mut mem, vmo, 0, &[2]).unwrap();
    write(&mut store, &mut mem, clone, P, &[2]).unwrap();
    assert_eq!(committed(&store, vmo), 2 * P);
    assert_eq!(committed(&store, clone), 2 * P);
    assert_eq!(mem.live(), 4);
    check_invariants(&store, &mem);
}

#[test]
fn closing_the_parent_passes_ownership() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let parent = store.create(1, 3 * P, 0).unwrap();
    write(&mut store, &mut mem, parent, 0, &pattern(3, 3 * P as usize)).unwrap();
    let a = store.create_child(parent, 2, child::SNAPSHOT, 0, 3 * P, false).unwrap();
    let b = store.create_child(parent, 3, child::SNAPSHOT, P, 2 * P, false).unwrap();
    assert_eq!(mem.live(), 3);
    store.release(parent, &mut mem);
    // Parent's three frames are still held (page 0 by a; pages 1, 2 by a and b).
    assert_eq!(mem.live(), 3);
    assert_eq!(committed(&store, a) + committed(&store, b), 3 * P);
    check_invariants(&store, &mem);
    store.release(a, &mut mem);
    assert_eq!(mem.live(), 2);
    assert_eq!(committed(&store, b), 2 * P);
    assert_eq!(read(&store, &mem, b, 0, 2 * P).unwrap(), pattern(3, 3 * P as usize)[P as usize..].to_vec());
    check_invariants(&store, &mem);
    store.release(b, &mut mem);
    assert_eq!(mem.live(), 0);
    assert_eq!(store.vmo_count(), 0);
}

#[test]
fn child_past_the_parent_end_reads_zero() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let parent = store.create(1, 2 * P, 0).unwrap();
    write(&mut store, &mut mem, parent, 0, &pattern(9, 2 * P as usize)).unwrap();
    let child = store.create_child(parent, 2, child::SNAPSHOT, P, 3 * P, false).unwrap();
    assert_eq!(store.size(child), 3 * P);
    assert_eq!(read(&store, &mem, child, 0, P).unwrap(), pattern(9, 2 * P as usize)[P as usize..].to_vec());
    assert_eq!(read(&store, &mem, child, P, 2 * P).unwrap(), vec![0; 2 * P as usize]);
    let far = store.create_child(parent, 3, child::SNAPSHOT, 100 * P, P, false).unwrap();
    assert_eq!(read(&store, &mem, far, 0, P).unwrap(), vec![0; P as usize]);
    assert_eq!(mem.live(), 2);
    let info = store.info(child);
    assert_eq!(info.parent_koid, 1);
    assert_eq!(info.flags, info::VMO_TYPE_PAGED | info::VMO_IS_COW_CLONE);
    assert_eq!(store.content_size(child), 3 * P);
}

#[test]
fn create_child_option_and_argument_order() {
    let mut store = VmoStore::new();
    let mut cache = RecordingCache::default();
    let parent = store.create(1, 4 * P, 0).unwrap();
    let cc = |s: &mut VmoStore, options, offset, size| s.create_child(parent, 9, options, offset, size, false);
    assert_eq!(cc(&mut store, 0, 0, P), Err(ZxError::InvalidArgs));
    assert_eq!(cc(&mut store, child::RESIZABLE, 0, P), Err(ZxError::InvalidArgs));
    assert_eq!(cc(&mut store, child::SNAPSHOT | child::SNAPSHOT_AT_LEAST_ON_WRITE, 0, P), Err(ZxError::InvalidArgs));
    assert_eq!(cc(&mut store, child::SNAPSHOT | (1 << 7), 0, P), Err(ZxError::InvalidArgs));
    assert_eq!(cc(&mut store, child::SLICE | child::RESIZABLE, 0, P), Err(ZxError::InvalidArgs));
    assert_eq!(cc(&mut store, child::SLICE | child::SNAPSHOT, 0, P), Err(ZxError::InvalidArgs));
    // Options beat arguments.
    assert_eq!(cc(&mut store, 0, 1, u64::MAX), Err(ZxError::InvalidArgs));
    assert_eq!(cc(&mut store, child::SNAPSHOT, 1, u64::MAX), Err(ZxError::InvalidArgs));
    assert_eq!(cc(&mut store, child::SNAPSHOT, 0, u64::MAX), Err(ZxError::OutOfRange));
    assert_eq!(cc(&mut store, child::SNAPSHOT, 0, 0u64.wrapping_sub(P)), Err(ZxError::OutOfRange));
    // NO_WRITE only concerns rights.
    let ok = cc(&mut store, child::SNAPSHOT | child::NO_WRITE | child::RESIZABLE, 0, P).unwrap();
    assert!(store.is_resizable(ok));
    let plain = cc(&mut store, child::SNAPSHOT_AT_LEAST_ON_WRITE, 0, P).unwrap();
    assert!(!store.is_resizable(plain));
    assert_eq!(store.set_size(plain, 2 * P, &mut FakeMemory::new()), Err(ZxError::Unavailable));

    let uncached = store.create(2, P, 0).unwrap();
    store.set_cache_policy(uncached, cache_policy::UNCACHED, &mut cache).unwrap();
    assert_eq!(store.create_child(uncached, 9, child::SNAPSHOT, 1, P, false), Err(ZxError::InvalidArgs));
    assert_eq!(store.create_child(uncached, 9, child::SNAPSHOT, 0, u64::MAX, false), Err(ZxError::OutOfRange));
    assert_eq!(store.create_child(uncached, 9, child::SNAPSHOT, 0, P, false), Err(ZxError::BadState));

    let phys = store.create_physical(3, PhysAddr(0x900_0000), 2 * P).unwrap();
    assert_eq!(store.create_child(phys, 9, child::SNAPSHOT, 1, u64::MAX, false), Err(ZxError::NotSupported));
    assert_eq!(store.create_child(phys, 9, child::SNAPSHOT_AT_LEAST_ON_WRITE, 0, P, false), Err(ZxError::NotSupported));
    assert_eq!(store.create_child(phys, 9, 0, 0, P, false), Err(ZxError::InvalidArgs));
}

#[test]
fn names_truncate_and_copy_to_children() {
    let mut store = VmoStore::new();
    let parent = store.create(1, P, 0).unwrap();
    assert_eq!(store.name(parent), [0; 32]);
    store.set_name(parent, b"0123456789abcdef0123456789abcdefXYZ");
    let name = store.name(parent);
    assert_eq!(&name[..31], b"0123456789abcdef0123456789abcde");
    assert_eq!(name[31], 0);
    store.set_name(parent, b"short");
    assert_eq!(&store.name(parent)[..6], b"short\0");
    assert!(store.name(parent)[5..].iter().all(|&b| b == 0));

    let named = store.create_child(parent, 2, child::SNAPSHOT, 0, P, true).unwrap();
    let unnamed = store.create_child(parent, 3, child::SNAPSHOT, 0, P, false).unwrap();
    let slice = store.create_child(parent, 4, child::SLICE, 0, P, true).unwrap();
    assert_eq!(store.name(named), store.name(parent));
    assert_eq!(store.name(unnamed), [0; 32]);
    assert_eq!(store.name(slice), store.name(parent));
    assert_eq!(store.info(named).name, store.name(parent));
}

// ----- slices -----------------------------------------------------------------------

#[test]
fn slice_rules_in_order() {
    let mut store = VmoStore::new();
    let mut cache = RecordingCache::default();
    let parent = store.create(1, 4 * P, 0).unwrap();
    let slice = |s: &mut VmoStore, p, offset, size| s.create_child(p, 9, child::SLICE, offset, size, false);
    assert_eq!(slice(&mut store, parent, 1, u64::MAX), Err(ZxError::InvalidArgs));
    assert_eq!(slice(&mut store, parent, 0, u64::MAX), Err(ZxError::OutOfRange));
    assert_eq!(slice(&mut store, parent, 0, 0u64.wrapping_sub(P)), Err(ZxError::OutOfRange));
    assert_eq!(slice(&mut store, parent, 0u64.wrapping_sub(P), P), Err(ZxError::InvalidArgs));
    assert_eq!(slice(&mut store, parent, 3 * P, 2 * P), Err(ZxError::InvalidArgs));
    assert_eq!(slice(&mut store, parent, 5 * P, 0), Err(ZxError::InvalidArgs));

    let resizable = store.create(2, P, crate::abi::VMO_RESIZABLE).unwrap();
    assert_eq!(slice(&mut store, resizable, 0, 2 * P), Err(ZxError::InvalidArgs));
    assert_eq!(slice(&mut store, resizable, 0, P), Err(ZxError::NotSupported));

    let uncached = store.create(3, P, 0).unwrap();
    store.set_cache_policy(uncached, cache_policy::UNCACHED, &mut cache).unwrap();
    assert_eq!(slice(&mut store, uncached, 0, P), Err(ZxError::BadState));
    let phys = store.create_physical(4, PhysAddr(0x900_0000), 2 * P).unwrap();
    let phys_slice = slice(&mut store, phys, P, P).unwrap();
    assert_eq!(store.cache_policy(phys_slice), cache_policy::UNCACHED);

    let empty = slice(&mut store, parent, 4 * P, 0).unwrap();
    assert_eq!(store.size(empty), 0);
    assert_eq!(store.check_read_write(empty, 0, 0), Ok(()));
    assert_eq!(store.check_read_write(empty, 0, 1), Err(ZxError::OutOfRange));
    let small = slice(&mut store, parent, P, 42).unwrap();
    assert_eq!(store.size(small), P);
    assert_eq!(store.content_size(small), 42);
    let info = store.info(small);
    assert_eq!(info.flags, info::VMO_TYPE_PAGED);
    assert_eq!(info.parent_koid, 1);
    assert_eq!(store.info(parent).num_children, 2);
}

#[test]
fn slices_share_pages_with_their_parent() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let parent = store.create(1, 4 * P, 0).unwrap();
    write(&mut store, &mut mem, parent, P, b"in parent").unwrap();
    let slice = store.create_child(parent, 2, child::SLICE, P, 2 * P, false).unwrap();
    assert_eq!(&read(&store, &mem, slice, 0, 9).unwrap(), b"in parent");
    write(&mut store, &mut mem, slice, P + 3, b"via slice").unwrap();
    assert_eq!(&read(&store, &mem, parent, 2 * P + 3, 9).unwrap(), b"via slice");
    // Pages belong to the root; a slice owns nothing.
    assert_eq!(committed(&store, parent), 2 * P);
    assert_eq!(committed(&store, slice), 0);

    // A slice of the slice resolves to the root.
    let inner = store.create_child(slice, 3, child::SLICE, P, P, false).unwrap();
    assert_eq!(&read(&store, &mem, inner, 3, 9).unwrap(), b"via slice");
    assert_eq!(store.info(inner).parent_koid, 2);
    write(&mut store, &mut mem, inner, 0, b"inner").unwrap();
    assert_eq!(&read(&store, &mem, parent, 2 * P, 5).unwrap(), b"inner");

    // A COW child of a slice snapshots the slice's window.
    let snap = store.create_child(slice, 4, child::SNAPSHOT, 0, 3 * P, false).unwrap();
    assert_eq!(&read(&store, &mem, snap, 0, 9).unwrap(), b"in parent");
    assert_eq!(&read(&store, &mem, snap, P, 5).unwrap(), b"inner");
    assert_eq!(read(&store, &mem, snap, 2 * P, P).unwrap(), vec![0; P as usize]);
    write(&mut store, &mut mem, slice, 0, b"changed").unwrap();
    assert_eq!(&read(&store, &mem, snap, 0, 9).unwrap(), b"in parent");
    check_invariants(&store, &mem);

    // Releasing the parent's handle keeps it alive through the slice.
    store.release(parent, &mut mem);
    assert_eq!(&read(&store, &mem, inner, 0, 5).unwrap(), b"inner");
    store.release(slice, &mut mem);
    assert_eq!(&read(&store, &mem, inner, 0, 5).unwrap(), b"inner");
    store.release(inner, &mut mem);
    // The parent's pages are gone; the snapshot keeps its own.
    check_invariants(&store, &mem);
    assert_eq!(&read(&store, &mem, snap, P, 5).unwrap(), b"inner");
    store.release(snap, &mut mem);
    assert_eq!(mem.live(), 0);
    assert_eq!(store.vmo_count(), 0);
}

// ----- signals and lifetime ---------------------------------------------------------

#[test]
fn zero_children_signal_tracks_descendants_and_mappings() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let parent = store.create(1, P, 0).unwrap();
    let child = store.create_child(parent, 2, child::SNAPSHOT, 0, P, false).unwrap();
    assert_eq!(store.signals(parent) & signal::VMO_ZERO_CHILDREN, 0);
    assert_eq!(store.info(parent).num_children, 1);
    let grandchild = store.create_child(child, 3, child::SNAPSHOT, 0, P, false).unwrap();

    // The child's handle closes, but the grandchild keeps the parent's signal clear.
    store.release(child, &mut mem);
    assert_eq!(store.signals(parent) & signal::VMO_ZERO_CHILDREN, 0);
    // A mapping of the grandchild keeps it alive after its handle closes.
    store.retain(grandchild);
    store.add_mapping(grandchild);
    assert_eq!(store.info(grandchild).num_mappings, 1);
    store.release(grandchild, &mut mem);
    assert_eq!(store.signals(parent) & signal::VMO_ZERO_CHILDREN, 0);
    store.remove_mapping(grandchild);
    store.release(grandchild, &mut mem);
    assert_eq!(store.signals(parent), signal::VMO_ZERO_CHILDREN);
    assert_eq!(store.info(parent).num_children, 0);
    assert_eq!(store.vmo_count(), 1);
    check_invariants(&store, &mem);
}

#[test]
fn zombie_parents_go_with_their_last_child() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let root = store.create(1, P, 0).unwrap();
    write(&mut store, &mut mem, root, 0, b"root").unwrap();
    let child = store.create_child(root, 2, child::SNAPSHOT, 0, P, false).unwrap();
    let grandchild = store.create_child(child, 3, child::SNAPSHOT, 0, P, false).unwrap();
    store.release(root, &mut mem);
    store.release(child, &mut mem);
    assert_eq!(store.vmo_count(), 3);
    assert_eq!(committed(&store, grandchild), P);
    assert_eq!(&read(&store, &mem, grandchild, 0, 4).unwrap(), b"root");
    check_invariants(&store, &mem);
    store.release(grandchild, &mut mem);
    assert_eq!(store.vmo_count(), 0);
    assert_eq!(mem.live(), 0);
}

#[test]
fn user_signals() {
    let mut store = VmoStore::new();
    let id = store.create(1, 0, 0).unwrap();
    store.signal(id, 0, 1 << 24 | 1 << 31);
    assert_eq!(store.signals(id), signal::VMO_ZERO_CHILDREN | 1 << 24 | 1 << 31);
    store.signal(id, 1 << 24, 1 << 25);
    assert_eq!(store.signals(id), signal::VMO_ZERO_CHILDREN | 1 << 25 | 1 << 31);
    // Bits outside USER_ALL are never stored.
    store.signal(id, signal::VMO_ZERO_CHILDREN, 1);
    assert_eq!(store.signals(id), signal::VMO_ZERO_CHILDREN | 1 << 25 | 1 << 31);
}

// ----- size -------------------------------------------------------------------------

#[test]
fn set_size_rules_and_effects() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let fixed = store.create(1, P, 0).unwrap();
    assert_eq!(store.set_size(fixed, u64::MAX, &mut mem), Err(ZxError::Unavailable));
    let phys = store.create_physical(2, PhysAddr(0x900_0000), P).unwrap();
    assert_eq!(store.set_size(phys, P, &mut mem), Err(ZxError::Unavailable));

    let id = store.create(3, 3 * P, crate::abi::VMO_RESIZABLE).unwrap();
    assert_eq!(store.set_size(id, u64::MAX, &mut mem), Err(ZxError::OutOfRange));
    write(&mut store, &mut mem, id, 0, &pattern(5, 3 * P as usize)).unwrap();
    invalidations(&mut store);
    store.set_size(id, P + 7, &mut mem).unwrap();
    assert_eq!(store.size(id), 2 * P);
    assert_eq!(store.content_size(id), P + 7);
    assert_eq!(mem.live(), 2);
    assert_eq!(invalidations(&mut store), vec![Invalidation { vmo: id, first_page: 2, page_count: 1 }]);
    store.set_size(id, 4 * P, &mut mem).unwrap();
    assert!(invalidations(&mut store).is_empty());
    assert_eq!(read(&store, &mem, id, 2 * P, 2 * P).unwrap(), vec![0; 2 * P as usize]);
    assert_eq!(read(&store, &mem, id, 0, 2 * P).unwrap(), pattern(5, 2 * P as usize));
    store.set_size(id, 0, &mut mem).unwrap();
    assert_eq!(mem.live(), 0);
    check_invariants(&store, &mem);
}

#[test]
fn regrown_cow_child_never_sees_the_parent_again() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let parent = store.create(1, 2 * P, 0).unwrap();
    write(&mut store, &mut mem, parent, 0, &pattern(4, 2 * P as usize)).unwrap();
    let child = store.create_child(parent, 2, child::SNAPSHOT | child::RESIZABLE, 0, 2 * P, false).unwrap();
    assert_eq!(store.info(child).flags, info::VMO_TYPE_PAGED | info::VMO_RESIZABLE | info::VMO_IS_COW_CLONE);
    store.set_size(child, P, &mut mem).unwrap();
    store.set_size(child, 2 * P, &mut mem).unwrap();
    assert_eq!(read(&store, &mem, child, P, P).unwrap(), vec![0; P as usize]);
    assert_eq!(read(&store, &mem, child, 0, P).unwrap(), pattern(4, P as usize));
    assert_eq!(read(&store, &mem, parent, 0, 2 * P).unwrap(), pattern(4, 2 * P as usize));
    check_invariants(&store, &mem);
}

// ----- op_range ---------------------------------------------------------------------

#[test]
fn op_range_dispatch_and_rights() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 2 * P, 0).unwrap();
    let mut op = |s: &mut VmoStore, code, rights| s.op_range(id, code, 0, P, rights, &mut mem, &mut cache);
    assert_eq!(op(&mut store, 0, 0), Err(ZxError::InvalidArgs));
    assert_eq!(op(&mut store, 5, 0), Err(ZxError::InvalidArgs));
    assert_eq!(op(&mut store, 11, ALL_RIGHTS), Err(ZxError::InvalidArgs));
    assert_eq!(op(&mut store, op::LOCK, 0), Err(ZxError::NotSupported));
    assert_eq!(op(&mut store, op::UNLOCK, ALL_RIGHTS), Err(ZxError::NotSupported));
    for code in [op::COMMIT, op::DECOMMIT, op::ZERO, op::CACHE_INVALIDATE] {
        assert_eq!(op(&mut store, code, rights::READ), Err(ZxError::AccessDenied), "op {code}");
        assert_eq!(op(&mut store, code, rights::WRITE), Ok(()), "op {code}");
    }
    for code in [op::CACHE_SYNC, op::CACHE_CLEAN, op::CACHE_CLEAN_INVALIDATE] {
        assert_eq!(op(&mut store, code, rights::WRITE), Err(ZxError::AccessDenied), "op {code}");
        assert_eq!(op(&mut store, code, rights::READ), Ok(()), "op {code}");
    }
}

#[test]
fn commit_widens_and_trims() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 4 * P, 0).unwrap();
    let mut commit = |s: &mut VmoStore, m: &mut FakeMemory, offset, len| {
        s.op_range(id, op::COMMIT, offset, len, ALL_RIGHTS, m, &mut cache)
    };
    assert_eq!(commit(&mut store, &mut mem, 0x10, 0x100), Ok(()));
    assert_eq!(committed(&store, id), P);
    assert_eq!(commit(&mut store, &mut mem, P - 1, 2), Ok(()));
    assert_eq!(committed(&store, id), 2 * P);
    assert_eq!(commit(&mut store, &mut mem, 4 * P + 1, 0), Err(ZxError::OutOfRange));
    assert_eq!(commit(&mut store, &mut mem, 4 * P, 100), Ok(()));
    assert_eq!(commit(&mut store, &mut mem, 1, u64::MAX), Err(ZxError::OutOfRange));
    assert_eq!(committed(&store, id), 2 * P);
    assert_eq!(commit(&mut store, &mut mem, 3 * P, 100 * P), Ok(()));
    assert_eq!(committed(&store, id), 3 * P);
    assert_eq!(read(&store, &mem, id, 0, 4 * P).unwrap(), vec![0; 4 * P as usize]);
    check_invariants(&store, &mem);

    let phys = store.create_physical(2, PhysAddr(0x900_0000), P).unwrap();
    for code in [op::COMMIT, op::DECOMMIT, op::ZERO] {
        assert_eq!(store.op_range(phys, code, 0, P, ALL_RIGHTS, &mut mem, &mut cache), Err(ZxError::NotSupported));
    }
}

#[test]
fn commit_on_a_cow_child_copies_the_parent() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let parent = store.create(1, 2 * P, 0).unwrap();
    write(&mut store, &mut mem, parent, 0, b"parent data").unwrap();
    let child = store.create_child(parent, 2, child::SNAPSHOT, 0, 2 * P, false).unwrap();
    store.op_range(child, op::COMMIT, 0, 2 * P, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    assert_eq!(committed(&store, child), 2 * P);
    assert_eq!(committed(&store, parent), P);
    assert_eq!(&read(&store, &mem, child, 0, 11).unwrap(), b"parent data");
    assert!(!store.page_for_read(parent, 0).unwrap().shared);
    assert!(cache.calls.is_empty());
    check_invariants(&store, &mem);
}

#[test]
fn commit_in_an_uncached_vmo_cleans_new_frames() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 2 * P, 0).unwrap();
    store.set_cache_policy(id, cache_policy::WRITE_COMBINING, &mut cache).unwrap();
    store.op_range(id, op::COMMIT, 0, 2 * P, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    assert_eq!(cache.calls.len(), 2);
    assert!(cache.calls.iter().all(|c| c.0 == "clean_invalidate" && c.2 == P as usize));
    store.op_range(id, op::COMMIT, 0, 2 * P, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    assert_eq!(cache.calls.len(), 2);
}

#[test]
fn decommit_order() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 4 * P, 0).unwrap();
    let mut decommit = |s: &mut VmoStore, m: &mut FakeMemory, vmo, offset, len| {
        s.op_range(vmo, op::DECOMMIT, offset, len, ALL_RIGHTS, m, &mut cache)
    };
    assert_eq!(decommit(&mut store, &mut mem, id, 4 * P + 1, 0), Err(ZxError::OutOfRange));
    assert_eq!(decommit(&mut store, &mut mem, id, 4 * P, 0), Ok(()));
    assert_eq!(decommit(&mut store, &mut mem, id, 4 * P, 5), Ok(()));
    // Misalignment is an error even with nothing committed (DecommitMisaligned).
    assert_eq!(decommit(&mut store, &mut mem, id, 1, P), Err(ZxError::InvalidArgs));
    assert_eq!(decommit(&mut store, &mut mem, id, 0, 1), Err(ZxError::InvalidArgs));

    // DecommitMiddle.
    write(&mut store, &mut mem, id, 0, &pattern(2, 3 * P as usize)).unwrap();
    assert_eq!(decommit(&mut store, &mut mem, id, P, P), Ok(()));
    assert_eq!(committed(&store, id), 2 * P);
    assert_eq!(read(&store, &mem, id, P, P).unwrap(), vec![0; P as usize]);
    assert_eq!(read(&store, &mem, id, 2 * P, 10).unwrap(), pattern(2, 3 * P as usize)[2 * P as usize..][..10].to_vec());
    // An overlong aligned range is trimmed.
    assert_eq!(decommit(&mut store, &mut mem, id, 2 * P, 100 * P), Ok(()));
    assert_eq!(committed(&store, id), P);

    // COW children forbid decommit on both sides; the alignment check comes later.
    let child = store.create_child(id, 2, child::SNAPSHOT, 0, P, false).unwrap();
    assert_eq!(decommit(&mut store, &mut mem, id, 1, 1), Err(ZxError::NotSupported));
    assert_eq!(decommit(&mut store, &mut mem, child, 1, 1), Err(ZxError::NotSupported));
    store.release(child, &mut mem);
    assert_eq!(decommit(&mut store, &mut mem, id, 0, P), Ok(()));
    assert_eq!(committed(&store, id), 0);

    // A slice forwards to its root with the trimmed length.
    let slice = store.create_child(id, 3, child::SLICE, P, 2 * P, false).unwrap();
    write(&mut store, &mut mem, slice, 0, &pattern(3, 2 * P as usize)).unwrap();
    assert_eq!(decommit(&mut store, &mut mem, slice, P, 5 * P + 3), Ok(()));
    assert_eq!(committed(&store, id), P);
    assert_eq!(read(&store, &mem, id, 2 * P, P).unwrap(), vec![0; P as usize]);
    let snap = store.create_child(slice, 4, child::SNAPSHOT, 0, P, false).unwrap();
    assert_eq!(decommit(&mut store, &mut mem, id, 0, P), Err(ZxError::NotSupported));
    store.release(snap, &mut mem);
    check_invariants(&store, &mem);
}

#[test]
fn zero_rules_and_effects() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 3 * P, 0).unwrap();
    let mut zero = |s: &mut VmoStore, m: &mut FakeMemory, vmo, offset, len| {
        s.op_range(vmo, op::ZERO, offset, len, ALL_RIGHTS, m, &mut cache)
    };
    // ZeroLengths.
    for offset in [0, 10, P] {
        assert_eq!(zero(&mut store, &mut mem, id, offset, 0), Ok(()));
    }
    assert_eq!(zero(&mut store, &mut mem, id, 3 * P + 1, 0), Err(ZxError::OutOfRange));
    assert_eq!(zero(&mut store, &mut mem, id, 1, u64::MAX), Err(ZxError::OutOfRange));
    // Zeroing uncommitted pages commits nothing.
    assert_eq!(zero(&mut store, &mut mem, id, 10, 2 * P), Ok(()));
    assert_eq!(mem.live(), 0);

    let data = pattern(6, 3 * P as usize);
    write(&mut store, &mut mem, id, 0, &data).unwrap();
    assert_eq!(zero(&mut store, &mut mem, id, 100, 2 * P), Ok(()));
    let mut expected = data.clone();
    expected[100..100 + 2 * P as usize].fill(0);
    assert_eq!(read(&store, &mem, id, 0, 3 * P).unwrap(), expected);
    // Head (page 0) and tail (page 2) are zeroed in place; the whole page 1 between
    // them is given up (DecommitMiddle-like: 3 pages → 2).
    assert_eq!(committed(&store, id), 2 * P);
    assert_eq!(store.page_for_read(id, 1), None);
    // An exactly covered page goes too.
    assert_eq!(zero(&mut store, &mut mem, id, 0, P), Ok(()));
    assert_eq!(committed(&store, id), P);
    expected[..P as usize].fill(0);
    // Inside one page.
    assert_eq!(zero(&mut store, &mut mem, id, 2 * P + 1, 2), Ok(()));
    expected[2 * P as usize + 1..2 * P as usize + 3].fill(0);
    assert_eq!(read(&store, &mem, id, 0, 3 * P).unwrap(), expected);

    // Zeroing in a COW child leaves the parent alone and hides the parent.
    let parent = store.create(2, 2 * P, 0).unwrap();
    write(&mut store, &mut mem, parent, 0, &data[..2 * P as usize]).unwrap();
    let child = store.create_child(parent, 3, child::SNAPSHOT, 0, 2 * P, false).unwrap();
    assert_eq!(zero(&mut store, &mut mem, child, 0, P + 10), Ok(()));
    assert_eq!(read(&store, &mem, parent, 0, 2 * P).unwrap(), data[..2 * P as usize].to_vec());
    let mut child_expected = data[..2 * P as usize].to_vec();
    child_expected[..P as usize + 10].fill(0);
    assert_eq!(read(&store, &mem, child, 0, 2 * P).unwrap(), child_expected);
    assert_eq!(committed(&store, child), P);
    assert_eq!(committed(&store, parent), 2 * P);

    // Uncached VMOs refuse ZERO before the range check; physical ones before that.
    let uncached = store.create(4, P, 0).unwrap();
    store.set_cache_policy(uncached, cache_policy::UNCACHED, &mut RecordingCache::default()).unwrap();
    assert_eq!(zero(&mut store, &mut mem, uncached, 10 * P, 1), Err(ZxError::BadState));
    check_invariants(&store, &mem);
}

#[test]
fn cache_ops_check_ranges_and_skip_uncommitted_pages() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let size = 0x8000;
    let id = store.create(1, size, 0).unwrap();
    let ops = [op::CACHE_SYNC, op::CACHE_INVALIDATE, op::CACHE_CLEAN, op::CACHE_CLEAN_INVALIDATE];
    for code in ops {
        let mut run = |offset, len| store.op_range(id, code, offset, len, ALL_RIGHTS, &mut mem, &mut cache);
        assert_eq!(run(0, 0), Err(ZxError::InvalidArgs));
        assert_eq!(run(size + 1, 0), Err(ZxError::InvalidArgs));
        assert_eq!(run(size, 1), Err(ZxError::OutOfRange));
        assert_eq!(run(size + 1, 1), Err(ZxError::OutOfRange));
        assert_eq!(run(u64::MAX, 1), Err(ZxError::OutOfRange));
        assert_eq!(run(1, size), Err(ZxError::OutOfRange));
        assert_eq!(run(0x5200, 0x1200), Ok(()));
    }
    assert!(cache.calls.is_empty());

    let frame5 = store.page_for_write(id, 5, &mut mem).unwrap();
    let frame6 = store.page_for_write(id, 6, &mut mem).unwrap();
    store.op_range(id, op::CACHE_CLEAN, 0x5200, 0x1200, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    assert_eq!(cache.calls, vec![("clean", PhysAddr(frame5.0 + 0x200), 0xe00), ("clean", frame6, 0x400)]);

    cache.calls.clear();
    let phys = store.create_physical(2, PhysAddr(0x900_0000), 4 * P).unwrap();
    let slice = store.create_child(phys, 3, child::SLICE, P, 2 * P, false).unwrap();
    store.op_range(slice, op::CACHE_SYNC, 0x10, P, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    assert_eq!(cache.calls, vec![("sync", PhysAddr(0x900_1010), P as usize)]);
}

// ----- cache policy -----------------------------------------------------------------

#[test]
fn cache_policy_rules_for_paged_vmos() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 2 * P, 0).unwrap();
    assert_eq!(store.set_cache_policy(id, 4, &mut cache), Err(ZxError::InvalidArgs));
    for policy in
        [cache_policy::UNCACHED, cache_policy::UNCACHED_DEVICE, cache_policy::WRITE_COMBINING, cache_policy::CACHED]
    {
        assert_eq!(store.set_cache_policy(id, policy, &mut cache), Ok(()));
        assert_eq!(store.info(id).cache_policy, policy);
    }
    // Cached → uncached with pages cleans and invalidates each of them.
    let frame = store.page_for_write(id, 1, &mut mem).unwrap();
    assert_eq!(store.set_cache_policy(id, cache_policy::UNCACHED, &mut cache), Ok(()));
    assert_eq!(cache.calls, vec![("clean_invalidate", frame, P as usize)]);
    // Pages while not cached: stuck.
    assert_eq!(store.set_cache_policy(id, cache_policy::CACHED, &mut cache), Err(ZxError::BadState));

    let mapped = store.create(2, P, 0).unwrap();
    store.retain(mapped);
    store.add_mapping(mapped);
    assert_eq!(store.set_cache_policy(mapped, cache_policy::UNCACHED, &mut cache), Err(ZxError::BadState));
    store.remove_mapping(mapped);
    store.release(mapped, &mut mem);
    assert_eq!(store.set_cache_policy(mapped, cache_policy::UNCACHED, &mut cache), Ok(()));

    let parent = store.create(3, P, 0).unwrap();
    let child = store.create_child(parent, 4, child::SNAPSHOT, 0, P, false).unwrap();
    assert_eq!(store.set_cache_policy(parent, cache_policy::UNCACHED, &mut cache), Err(ZxError::BadState));
    assert_eq!(store.set_cache_policy(child, cache_policy::UNCACHED, &mut cache), Err(ZxError::BadState));
    let slice = store.create_child(parent, 5, child::SLICE, 0, P, false).unwrap();
    assert_eq!(store.set_cache_policy(slice, cache_policy::UNCACHED, &mut cache), Err(ZxError::BadState));
    store.release(child, &mut mem);
    store.release(slice, &mut mem);
    assert_eq!(store.set_cache_policy(parent, cache_policy::UNCACHED, &mut cache), Ok(()));
}

#[test]
fn physical_vmos() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    assert_eq!(store.create_physical(1, PhysAddr(0x1001), P), Err(ZxError::InvalidArgs));
    assert_eq!(store.create_physical(1, PhysAddr(0x1000), 0), Err(ZxError::InvalidArgs));
    assert_eq!(store.create_physical(1, PhysAddr(0u64.wrapping_sub(P)), 2 * P), Err(ZxError::InvalidArgs));
    let phys = store.create_physical(1, PhysAddr(0x900_0000), 4 * P).unwrap();
    assert_eq!(store.cache_policy(phys), cache_policy::UNCACHED);
    let info = store.info(phys);
    assert_eq!(info.flags, info::VMO_CONTIGUOUS);
    assert_eq!(info.committed_bytes, 0);
    assert_eq!(store.page_for_read(phys, 2), Some(PageRef { pa: PhysAddr(0x900_2000), shared: false }));
    assert_eq!(store.page_for_write(phys, 3, &mut mem), Ok(PhysAddr(0x900_3000)));
    assert_eq!(store.page_for_read(phys, 4), None);
    assert_eq!(store.committed_frames_total(), 0);
    assert!(invalidations(&mut store).is_empty());

    let slice = store.create_child(phys, 2, child::SLICE, 2 * P, 2 * P, false).unwrap();
    assert!(store.is_physical(slice));
    assert_eq!(store.page_for_read(slice, 1).unwrap().pa, PhysAddr(0x900_3000));
    let slice_info = store.info(slice);
    assert_eq!(slice_info.flags, info::VMO_CONTIGUOUS);
    // Issue 13, defect 7: Zircon's VmoTestCase.PhysicalSlice expects the parent's koid.
    assert_eq!(slice_info.parent_koid, 1, "a physical VMO's slice names its parent");
    let inner = store.create_child(slice, 3, child::SLICE, P, P, false).unwrap();
    assert_eq!(store.info(inner).parent_koid, 2, "and so does a slice of that slice");
    store.release(inner, &mut mem);
    assert_eq!(store.info(phys).num_children, 1);

    // Same policy again is fine even with children; a change is not.
    assert_eq!(store.set_cache_policy(phys, cache_policy::UNCACHED, &mut cache), Ok(()));
    assert_eq!(store.set_cache_policy(phys, cache_policy::CACHED, &mut cache), Err(ZxError::BadState));
    assert_eq!(store.set_cache_policy(slice, cache_policy::UNCACHED, &mut cache), Ok(()));
    assert_eq!(store.set_cache_policy(slice, cache_policy::CACHED, &mut cache), Err(ZxError::BadState));
    store.release(slice, &mut mem);
    store.retain(phys);
    store.add_mapping(phys);
    assert_eq!(store.set_cache_policy(phys, cache_policy::CACHED, &mut cache), Err(ZxError::BadState));
    store.remove_mapping(phys);
    store.release(phys, &mut mem);
    assert_eq!(store.set_cache_policy(phys, cache_policy::CACHED, &mut cache), Ok(()));
    assert!(cache.calls.is_empty());
    store.release(phys, &mut mem);
    assert_eq!(store.vmo_count(), 0);
    assert_eq!(mem.live(), 0);
}

// ----- invalidations ----------------------------------------------------------------

#[test]
fn invalidations_cover_the_vmo_and_its_slices() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let root = store.create(1, 4 * P, 0).unwrap();
    let slice = store.create_child(root, 2, child::SLICE, P, 2 * P, false).unwrap();
    let inner = store.create_child(slice, 3, child::SLICE, P, P, false).unwrap();
    assert!(invalidations(&mut store).is_empty());

    // A commit through the inner slice, once a mapping of it showed the zero page,
    // reports root page 2 in every view of it.
    store.note_zero_page_shown(inner);
    store.page_for_write(inner, 0, &mut mem).unwrap();
    assert_eq!(
        invalidations(&mut store),
        vec![
            Invalidation { vmo: root, first_page: 2, page_count: 1 },
            Invalidation { vmo: slice, first_page: 1, page_count: 1 },
            Invalidation { vmo: inner, first_page: 0, page_count: 1 },
        ]
    );
    // Commit of the whole root: merged per VMO where contiguous.
    store.op_range(root, op::COMMIT, 0, 2 * P, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    assert_eq!(
        invalidations(&mut store),
        vec![
            Invalidation { vmo: root, first_page: 0, page_count: 2 },
            Invalidation { vmo: slice, first_page: 0, page_count: 1 },
        ]
    );
    // Sharing with a new COW child makes the shared pages read-only in root and views:
    // the span of newly shared pages, once per view.
    let snap = store.create_child(root, 4, child::SNAPSHOT, P, 2 * P, false).unwrap();
    assert_eq!(
        invalidations(&mut store),
        vec![
            Invalidation { vmo: root, first_page: 1, page_count: 2 },
            Invalidation { vmo: slice, first_page: 0, page_count: 2 },
            Invalidation { vmo: inner, first_page: 0, page_count: 1 },
        ]
    );
    // The child forking its copy changes nothing for the root.
    store.page_for_write(snap, 0, &mut mem).unwrap();
    assert_eq!(invalidations(&mut store), vec![Invalidation { vmo: snap, first_page: 0, page_count: 1 }]);
    // Writes to owned pages report nothing.
    store.page_for_write(root, 0, &mut mem).unwrap();
    store.page_for_write(snap, 0, &mut mem).unwrap();
    assert!(invalidations(&mut store).is_empty());
    // Closing a VMO drops its pending entries.
    store.page_for_write(snap, 1, &mut mem).unwrap();
    store.release(snap, &mut mem);
    assert!(invalidations(&mut store).is_empty());
    // Zeroing a whole page drops it.
    store.op_range(slice, op::ZERO, P, P, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    assert_eq!(
        invalidations(&mut store),
        vec![
            Invalidation { vmo: root, first_page: 2, page_count: 1 },
            Invalidation { vmo: slice, first_page: 1, page_count: 1 },
            Invalidation { vmo: inner, first_page: 0, page_count: 1 },
        ]
    );
    check_invariants(&store, &mem);
}

// ----- exhaustion -------------------------------------------------------------------

/// A parent with pages 0..3 written (page 3 empty), a COW child of it and a slice of
/// the child.
fn exhaustion_scenario() -> (VmoStore, FakeMemory, [VmoId; 3]) {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let parent = store.create(1, 4 * P, 0).unwrap();
    write(&mut store, &mut mem, parent, 0, &pattern(11, 3 * P as usize)).unwrap();
    let child = store.create_child(parent, 2, child::SNAPSHOT, 0, 4 * P, false).unwrap();
    let slice = store.create_child(child, 3, child::SLICE, 0, 4 * P, false).unwrap();
    store.take_invalidations().for_each(drop);
    (store, mem, [parent, child, slice])
}

fn contents(store: &VmoStore, mem: &FakeMemory, ids: &[VmoId]) -> Vec<Vec<u8>> {
    ids.iter().map(|&id| read(store, mem, id, 0, store.size(id)).unwrap()).collect()
}

#[test]
fn page_for_write_failure_changes_nothing() {
    for (vmo_slot, page) in [(1usize, 0u64), (1, 3), (0, 1), (2, 2)] {
        let (mut store, mut mem, ids) = exhaustion_scenario();
        let before = contents(&store, &mem, &ids);
        let infos: Vec<VmoInfo> = ids.iter().map(|&id| store.info(id)).collect();
        let live = mem.live();
        mem.fail_after(Some(0));
        assert_eq!(store.page_for_write(ids[vmo_slot], page, &mut mem), Err(ZxError::NoMemory));
        assert_eq!(contents(&store, &mem, &ids), before);
        assert_eq!(ids.iter().map(|&id| store.info(id)).collect::<Vec<_>>(), infos);
        assert_eq!(mem.live(), live);
        assert!(invalidations(&mut store).is_empty());
        check_invariants(&store, &mem);
    }
}

#[test]
fn every_allocation_failure_leaves_a_consistent_store() {
    type Op = fn(&mut VmoStore, &mut FakeMemory, &[VmoId; 3]) -> ZxResult;
    let ops: [(&str, Op); 5] = [
        ("write child", |s, m, ids| write(s, m, ids[1], 10, &[0xAB; 4 * P as usize - 20])),
        ("write parent", |s, m, ids| write(s, m, ids[0], P, &[0xCD; 2 * P as usize])),
        ("commit child", |s, m, ids| {
            s.op_range(ids[1], op::COMMIT, 0, 4 * P, ALL_RIGHTS, m, &mut RecordingCache::default())
        }),
        ("zero via slice", |s, m, ids| {
            s.op_range(ids[2], op::ZERO, 100, 2 * P, ALL_RIGHTS, m, &mut RecordingCache::default())
        }),
        ("zero parent", |s, m, ids| {
            s.op_range(ids[0], op::ZERO, P - 1, 2, ALL_RIGHTS, m, &mut RecordingCache::default())
        }),
    ];
    for (name, op) in ops {
        let mut succeeded = false;
        for budget in 0..10 {
            let (mut store, mut mem, ids) = exhaustion_scenario();
            let before = contents(&store, &mem, &ids);
            mem.fail_after(Some(budget));
            match op(&mut store, &mut mem, &ids) {
                Err(ZxError::NoMemory) => {
                    assert_eq!(contents(&store, &mem, &ids), before, "{name} budget {budget}");
                }
                Ok(()) => succeeded = true,
                Err(e) => panic!("{name}: unexpected {e}"),
            }
            check_invariants(&store, &mem);
            for id in ids.iter().rev() {
                store.release(*id, &mut mem);
            }
            assert_eq!(mem.live(), 0, "{name} budget {budget} leaked");
            assert_eq!(store.vmo_count(), 0);
            if succeeded {
                break;
            }
        }
        assert!(succeeded, "{name} never succeeded");
    }
}

// ----- randomized comparison with a model -----------------------------------------------

/// Iterates the VMOs in a slab (test-only convenience).
trait FlattenVmos<'a> {
    fn flatten_vmos(self) -> impl Iterator<Item = &'a Vmo>;
}

impl<'a, I: Iterator<Item = &'a Slot>> FlattenVmos<'a> for I {
    fn flatten_vmos(self) -> impl Iterator<Item = &'a Vmo> {
        self.filter_map(|slot| slot.vmo.as_ref())
    }
}

enum Contents {
    /// A paged VMO's own bytes (length = size).
    Own(Vec<u8>),
    /// A slice: bytes `[offset, offset + len)` of model entry `root` (an `Own`).
    View { root: usize, offset: usize, len: usize },
}

struct Model {
    id: VmoId,
    open: bool,
    resizable: bool,
    contents: Contents,
}

fn model_bytes(models: &[Model], index: usize) -> Vec<u8> {
    match &models[index].contents {
        Contents::Own(data) => data.clone(),
        Contents::View { root, offset, len } => match &models[*root].contents {
            Contents::Own(data) => data[*offset..*offset + *len].to_vec(),
            Contents::View { .. } => unreachable!("views point at roots"),
        },
    }
}

fn model_apply(models: &mut [Model], index: usize, offset: usize, f: impl FnOnce(&mut [u8])) {
    let (target, base) = match models[index].contents {
        Contents::Own(_) => (index, 0),
        Contents::View { root, offset, .. } => (root, offset),
    };
    if let Contents::Own(data) = &mut models[target].contents {
        f(&mut data[base + offset..]);
    }
}

fn random_vmo(rng: &mut Rng, models: &[Model]) -> Option<usize> {
    let open: Vec<usize> = (0..models.len()).filter(|&i| models[i].open).collect();
    if open.is_empty() { None } else { Some(open[rng.below(open.len() as u64) as usize]) }
}

#[test]
fn randomized_against_a_model() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let mut models: Vec<Model> = Vec::new();
    let mut koid = 100;
    let mut log: Vec<String> = Vec::new();
    // How often each interesting outcome happened, so the test proves its coverage.
    let mut seen: BTreeMap<&'static str, u32> = BTreeMap::new();

    for step in 0..6000 {
        koid += 1;
        let open_count = models.iter().filter(|m| m.open).count();
        let Some(index) = random_vmo(&mut rng, &models).filter(|_| open_count >= 2 || rng.chance(50)) else {
            // Create a root.
            let size = rng.below(6 * P + 1);
            let resizable = rng.chance(50);
            let options = if resizable { crate::abi::VMO_RESIZABLE } else { 0 };
            let id = store.create(koid, size, options).unwrap();
            let rounded = round_size(size).unwrap() as usize;
            models.push(Model { id, open: true, resizable, contents: Contents::Own(vec![0; rounded]) });
            log.push(format!("{step}: create {id:?} size {size:#x}"));
            continue;
        };
        let id = models[index].id;
        let size = store.size(id);
        let fail = rng.chance(15);
        mem.fail_after(if fail { Some(rng.below(3) as usize) } else { None });
        let action = rng.below(100);
        let what;
        match action {
            0..=9 if open_count < 14 => {
                let offset = rng.below(5) * P;
                let child_size = rng.below(6 * P + 1);
                let resizable = rng.chance(40);
                let options = child::SNAPSHOT_AT_LEAST_ON_WRITE | if resizable { child::RESIZABLE } else { 0 };
                let child = store.create_child(id, koid, options, offset, child_size, false).unwrap();
                let source = model_bytes(&models, index);
                let rounded = round_size(child_size).unwrap() as usize;
                let data: Vec<u8> =
                    (0..rounded).map(|j| source.get(offset as usize + j).copied().unwrap_or(0)).collect();
                models.push(Model { id: child, open: true, resizable, contents: Contents::Own(data) });
                what = format!("cow child {child:?} of {id:?} at {offset:#x} size {child_size:#x}");
            }
            10..=17 if open_count < 14 => {
                let offset = rng.below(pages(size) + 1) * P;
                let len = rng.below(size - offset + 1);
                let result = store.create_child(id, koid, child::SLICE, offset, len, false);
                if models[index].resizable {
                    assert_eq!(result, Err(ZxError::NotSupported));
                    what = String::from("slice of resizable refused");
                } else {
                    let slice = result.unwrap();
                    let (root, base) = match models[index].contents {
                        Contents::Own(_) => (index, 0),
                        Contents::View { root, offset, .. } => (root, offset),
                    };
                    let contents =
                        Contents::View { root, offset: base + offset as usize, len: round_size(len).unwrap() as usize };
                    models.push(Model { id: slice, open: true, resizable: false, contents });
                    what = format!("slice {slice:?} of {id:?} at {offset:#x} len {len:#x}");
                }
            }
            18..=44 => {
                let offset = rng.below(size + 2);
                let len = rng.below(2 * P + 1);
                let byte = rng.next_u64() as u8;
                let data = vec![byte; len as usize];
                let result = write(&mut store, &mut mem, id, offset, &data);
                match result {
                    Ok(()) => {
                        model_apply(&mut models, index, offset as usize, |d| d[..data.len()].copy_from_slice(&data))
                    }
                    Err(ZxError::OutOfRange) => assert!(offset + len > size),
                    Err(ZxError::NoMemory) => assert!(fail),
                    Err(e) => panic!("write: {e}"),
                }
                what = format!("write {id:?} {offset:#x}+{len:#x} = {byte:#x}: {result:?}");
            }
            45..=59 => {
                let offset = rng.below(size + 1);
                let len = rng.below(size - offset + 1);
                let got = read(&store, &mem, id, offset, len).unwrap();
                let want = model_bytes(&models, index);
                assert_eq!(got, want[offset as usize..(offset + len) as usize].to_vec(), "step {step} read {id:?}");
                what = format!("read {id:?}");
            }
            60..=66 => {
                let offset = rng.below(size + 1);
                let len = rng.below(3 * P);
                let result = store.op_range(id, op::COMMIT, offset, len, ALL_RIGHTS, &mut mem, &mut cache);
                assert!(result.is_ok() || (fail && result == Err(ZxError::NoMemory)), "commit: {result:?}");
                what = format!("commit {id:?} {offset:#x}+{len:#x}: {result:?}");
            }
            67..=73 => {
                let offset = rng.below(pages(size) + 1) * P;
                let len = rng.below(3) * P;
                let result = store.op_range(id, op::DECOMMIT, offset, len, ALL_RIGHTS, &mut mem, &mut cache);
                match result {
                    Ok(()) => {
                        let n = len.min(size - offset) as usize;
                        model_apply(&mut models, index, offset as usize, |d| d[..n].fill(0));
                    }
                    Err(ZxError::NotSupported) => {}
                    Err(e) => panic!("decommit: {e}"),
                }
                what = format!("decommit {id:?} {offset:#x}+{len:#x}: {result:?}");
            }
            74..=84 => {
                let offset = rng.below(size + 1);
                let len = rng.below(3 * P);
                let result = store.op_range(id, op::ZERO, offset, len, ALL_RIGHTS, &mut mem, &mut cache);
                match result {
                    Ok(()) => {
                        let n = len.min(size - offset) as usize;
                        model_apply(&mut models, index, offset as usize, |d| d[..n].fill(0));
                    }
                    Err(ZxError::NoMemory) => assert!(fail),
                    Err(e) => panic!("zero: {e}"),
                }
                what = format!("zero {id:?} {offset:#x}+{len:#x}: {result:?}");
            }
            85..=91 => {
                let new_size = rng.below(6 * P + 1);
                let result = store.set_size(id, new_size, &mut mem);
                if models[index].resizable {
                    assert_eq!(result, Ok(()));
                    if let Contents::Own(data) = &mut models[index].contents {
                        data.resize(round_size(new_size).unwrap() as usize, 0);
                    }
                } else {
                    assert_eq!(result, Err(ZxError::Unavailable));
                }
                what = format!("set_size {id:?} {new_size:#x}: {result:?}");
            }
            _ => {
                store.release(id, &mut mem);
                models[index].open = false;
                what = format!("close {id:?}");
            }
        }
        for (needle, key) in [
            ("cow child", "cow"),
            ("slice VmoId", "slice"),
            ("Err(NoMemory)", "no memory"),
            ("decommit", "decommit"),
            ("set_size", "resize"),
            ("close", "close"),
        ] {
            if what.contains(needle) && !(key == "decommit" && what.contains("Err")) {
                *seen.entry(key).or_default() += 1;
            }
        }
        if live_slots(&store).map(|(_, slot)| slot).flatten_vmos().any(|vmo| vmo.refs == 0) {
            *seen.entry("zombie").or_default() += 1;
        }
        log.push(format!("{step}: {what}"));
        mem.fail_after(None);
        let pending: Vec<Invalidation> = store.take_invalidations().collect();
        for inv in pending {
            assert!(inv.page_count > 0);
            assert!(store.contains(inv.vmo), "invalidation for a destroyed VMO");
        }
        check_invariants(&store, &mem);
        if step % 50 == 0 {
            for (i, model) in models.iter().enumerate().filter(|(_, m)| m.open) {
                let got = read(&store, &mem, model.id, 0, store.size(model.id)).unwrap();
                assert_eq!(got, model_bytes(&models, i), "step {step}: contents of {:?}", model.id);
            }
        }
    }
    assert_eq!(log.len(), 6000);
    for key in ["cow", "slice", "no memory", "decommit", "resize", "close", "zombie"] {
        assert!(seen.get(key).copied().unwrap_or(0) >= 20, "too few {key}: {seen:?}");
    }
    for model in models.iter_mut().filter(|m| m.open) {
        store.release(model.id, &mut mem);
        model.open = false;
    }
    assert_eq!(store.vmo_count(), 0);
    assert_eq!(mem.live(), 0);
    assert_eq!(store.committed_frames_total(), 0);
}

// ----- heap exhaustion (issue 13, defect 2) -------------------------------------------

use crate::arch::host_alloc::{allocations_during, with_heap_budget};

/// Every VMO in the store, for "nothing changed" comparisons.
fn all_infos(store: &VmoStore) -> Vec<VmoInfo> {
    let mut infos = Vec::new();
    for (index, slot) in live_slots(store) {
        if slot.vmo.is_some() {
            infos.push(store.info(VmoId::new(index as u32, slot.generation)));
        }
    }
    infos
}

/// Creating a VMO when the slab must grow and the heap cannot give it memory is
/// NO_MEMORY with nothing changed (the slot vector once grew by doubling, 14 MiB at
/// once, and the kernel panicked); releasing VMOs never allocates.
#[test]
fn vmo_creation_is_fallible_and_release_never_allocates() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut ids = Vec::new();
    ids.push(store.create(1, P, 0).unwrap());
    while store.slots.len() < store.slots.capacity() {
        ids.push(store.create(ids.len() as u64 + 1, P, 0).unwrap());
    }
    let before = all_infos(&store);
    assert_eq!(with_heap_budget(0, || store.create(999, P, 0)), Err(ZxError::NoMemory));
    assert_eq!(with_heap_budget(0, || store.create_physical(999, PhysAddr(0x900_0000), P)), Err(ZxError::NoMemory));
    assert_eq!(all_infos(&store), before);
    for &id in &ids {
        write(&mut store, &mut mem, id, 0, &[1]).unwrap();
    }
    // Release (close) each, with no heap at all.
    for id in ids {
        assert_eq!(with_heap_budget(0, || allocations_during(|| store.release(id, &mut mem))), 0);
    }
    assert_eq!(store.vmo_count(), 0);
    assert_eq!(mem.live(), 0);
    // Freed slots are reused without allocating.
    assert!(with_heap_budget(0, || store.create(1000, P, 0)).is_ok());
}

/// The 7th COW child of a committed VMO needed megabytes at once (the frame table's
/// holder lists, the child's page list, a copy of the shared range): each of them is
/// now reserved first, so any allocation failure is NO_MEMORY with the store as it was.
#[test]
fn cow_child_creation_is_fallible_at_every_allocation() {
    const PAGES: u64 = 300;
    let (mut store, mut mem) = (VmoStore::new(), FakeMemory::new());
    let parent = store.create(1, PAGES * P, 0).unwrap();
    store.op_range(parent, op::COMMIT, 0, PAGES * P, ALL_RIGHTS, &mut mem, &mut RecordingCache::default()).unwrap();
    let mut children = Vec::new();
    for koid in 2..8 {
        children.push(store.create_child(parent, koid, child::SNAPSHOT, 0, PAGES * P, false).unwrap());
    }
    store.take_invalidations().for_each(drop);
    let before = all_infos(&store);
    let frames_before = store.frames.len();
    let mut budget = 0;
    let seventh = loop {
        match with_heap_budget(budget, || store.create_child(parent, 100, child::SNAPSHOT, 0, PAGES * P, false)) {
            Ok(id) => break id,
            Err(e) => {
                assert_eq!(e, ZxError::NoMemory);
                assert_eq!(all_infos(&store), before, "budget {budget}");
                assert_eq!(store.frames.len(), frames_before);
                assert!(invalidations(&mut store).is_empty());
                check_invariants(&store, &mem);
            }
        }
        budget += 256;
    };
    assert!(budget > 0, "a 300-page COW child needs some memory");
    assert_eq!(store.info(parent).num_children, 7);
    // A first COW child of another committed VMO: the frame table itself must grow.
    let other = store.create(200, PAGES * P, 0).unwrap();
    store.op_range(other, op::COMMIT, 0, PAGES * P, ALL_RIGHTS, &mut mem, &mut RecordingCache::default()).unwrap();
    let before = all_infos(&store);
    assert_eq!(
        with_heap_budget(0, || store.create_child(other, 201, child::SNAPSHOT, 0, PAGES * P, false)),
        Err(ZxError::NoMemory)
    );
    assert_eq!(all_infos(&store), before);
    // Closing every VMO needs no memory.
    children.push(seventh);
    for id in children.into_iter().chain([parent, other]) {
        assert_eq!(with_heap_budget(0, || allocations_during(|| store.release(id, &mut mem))), 0);
        check_invariants(&store, &mem);
    }
    assert_eq!(store.vmo_count(), 0);
    assert_eq!(mem.live(), 0);
}

/// Slices kept alive only by mappings: the root's slice list grows fallibly, and a
/// change to the root queues at most a fixed number of invalidations (then "refault
/// everything") instead of one heap entry per slice.
#[test]
fn slices_grow_fallibly_and_invalidations_never_allocate() {
    let (mut store, mut mem) = (VmoStore::new(), FakeMemory::new());
    let root = store.create(1, 4 * P, 0).unwrap();
    let mut slices = Vec::new();
    for koid in 2..2002 {
        let slice = store.create_child(root, koid, child::SLICE, 0, 4 * P, false).unwrap();
        // A mapping keeps the slice; its handle is closed.
        store.retain(slice);
        store.add_mapping(slice);
        store.release(slice, &mut mem);
        slices.push(slice);
    }
    let root_slices = &vmo_ref(&store.slots, root).slices;
    if root_slices.len() == root_slices.capacity() {
        assert_eq!(
            with_heap_budget(0, || store.create_child(root, 9999, child::SLICE, 0, P, false)),
            Err(ZxError::NoMemory)
        );
    }
    assert_eq!(store.info(root).num_children, 2000);
    // Every slice shows the root's pages: decommitting a page invalidates 2,001 views.
    store.page_for_write(root, 1, &mut mem).unwrap();
    store.take_invalidations().for_each(drop);
    let allocations = allocations_during(|| {
        let mut cache = RecordingCache::default();
        store.op_range(root, op::DECOMMIT, P, P, ALL_RIGHTS, &mut mem, &mut cache).unwrap();
    });
    assert_eq!(allocations, 0);
    assert!(store.take_invalidate_everything(), "more views than queue slots: refault everything");
    assert!(!store.has_invalidations() || store.pop_invalidation().is_some());
    for slice in slices {
        store.remove_mapping(slice);
        assert_eq!(allocations_during(|| store.release(slice, &mut mem)), 0);
    }
    store.release(root, &mut mem);
    assert_eq!((store.vmo_count(), mem.live()), (0, 0));
}

/// ZERO and DECOMMIT over many sparse committed pages, with no heap left: the pages
/// go back and the queue holds one entry, where it once grew by one entry per page.
#[test]
fn zero_and_decommit_over_many_sparse_pages_never_allocate() {
    let (mut store, mut mem) = (VmoStore::new(), FakeMemory::new());
    let size = 1 << 40;
    let vmo = store.create(1, size, 0).unwrap();
    let committed: Vec<u64> = (0..60_000u64).map(|i| (i * 7919 * 3 + 5) % (size / P)).collect();
    for &page in &committed {
        store.page_for_write(vmo, page, &mut mem).unwrap();
    }
    store.note_zero_page_shown(vmo);
    let live = mem.live();
    assert!(live > 50_000);
    let mut cache = RecordingCache::default();
    let allocations = allocations_during(|| {
        let zeroed =
            with_heap_budget(0, || store.op_range(vmo, op::ZERO, 0, size / 2, ALL_RIGHTS, &mut mem, &mut cache));
        assert_eq!(zeroed, Ok(()));
    });
    assert_eq!(allocations, 0);
    assert_eq!(invalidations(&mut store), vec![Invalidation { vmo, first_page: 0, page_count: size / 2 / P }]);
    let allocations = allocations_during(|| {
        let decommitted =
            with_heap_budget(0, || store.op_range(vmo, op::DECOMMIT, 0, size, ALL_RIGHTS, &mut mem, &mut cache));
        assert_eq!(decommitted, Ok(()));
    });
    assert_eq!(allocations, 0);
    assert_eq!(mem.live(), 0);
    assert_eq!(store.info(vmo).committed_bytes, 0);
    check_invariants(&store, &mem);
}

// ----- the one-page write path (zx_vmo_write within a page) ------------------------

/// `write_target` reports `check_read_write`'s error for every range and, when the
/// checks pass, what `private_page` / `page_for_read` say about the page.
fn check_write_target(store: &VmoStore, id: VmoId, paged_root: bool) {
    let size = store.size(id);
    let offsets = [0, 1, P - 1, P, P + 7, 2 * P, size, size + 1, u64::MAX - 1, u64::MAX];
    let lens = [0, 1, 100, P - 1, P, P + 1, u64::MAX];
    for offset in offsets {
        for len in lens {
            let got = store.write_target(id, offset, len);
            let checked = store.check_read_write(id, offset, len);
            match (got, checked) {
                (Err(e), expected) => assert_eq!(Err(e), expected, "{offset:#x}+{len:#x}"),
                (Ok(target), Ok(())) => {
                    if len == 0 {
                        continue;
                    }
                    let index = offset / P;
                    let expected = if !paged_root {
                        WriteTarget::Other
                    } else if let Some(frame) = store.private_page(id, index) {
                        WriteTarget::Private(frame)
                    } else if store.page_for_read(id, index).is_none() {
                        WriteTarget::Uncommitted
                    } else {
                        WriteTarget::Other
                    };
                    assert_eq!(target, expected, "{offset:#x}+{len:#x}");
                }
                (Ok(target), Err(e)) => panic!("{offset:#x}+{len:#x}: {target:?}, expected {e:?}"),
            }
        }
    }
}

#[test]
fn write_target_is_check_read_write_and_private_page() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    let mut cache = RecordingCache::default();
    let id = store.create(1, 3 * P, 0).unwrap();
    check_write_target(&store, id, true);
    store.page_for_write(id, 1, &mut mem).unwrap();
    check_write_target(&store, id, true);
    // A snapshot shares page 1 (Other for both), a slice is never the fast path.
    let child = store.create_child(id, 2, child::SNAPSHOT, 0, 3 * P, false).unwrap();
    check_write_target(&store, id, true);
    check_write_target(&store, child, true);
    let slice = store.create_child(id, 3, child::SLICE, P, 2 * P, false).unwrap();
    check_write_target(&store, slice, false);
    let uncached = store.create(4, 2 * P, 0).unwrap();
    store.set_cache_policy(uncached, cache_policy::UNCACHED, &mut cache).unwrap();
    check_write_target(&store, uncached, true);
    assert_eq!(store.write_target(uncached, 0, 0), Err(ZxError::BadState));
    let phys = store.create_physical(5, PhysAddr(0x900_0000), P).unwrap();
    check_write_target(&store, phys, false);
    assert_eq!(store.write_target(phys, 0, 1), Err(ZxError::NotSupported));
    for id in [slice, child, id, uncached, phys] {
        store.release(id, &mut mem);
    }
    assert_eq!(mem.live(), 0);
}

#[test]
fn commit_filled_is_a_fresh_commit() {
    let mut store = VmoStore::new();
    let mut mem = FakeMemory::new();
    // Page 200 lies past the first page-list chunk (a new chunk on insert).
    let id = store.create(1, 300 * P, 0).unwrap();
    let filled = mem.fresh([0x5a; PAGE_SIZE as usize]);
    assert_eq!(store.write_target(id, 0, P), Ok(WriteTarget::Uncommitted));
    store.commit_filled(id, 0, filled).unwrap();
    assert!(invalidations(&mut store).is_empty(), "no mapping showed the zero page");
    assert_eq!(store.write_target(id, 0, P), Ok(WriteTarget::Private(filled)));
    assert_eq!(store.page_for_write(id, 0, &mut mem), Ok(filled));
    assert_eq!(store.page_for_read(id, 0), Some(PageRef { pa: filled, shared: false }));
    // Once a mapping may have shown the zero page, the commit makes it refault.
    store.note_zero_page_shown(id);
    let far = mem.fresh([0xa5; PAGE_SIZE as usize]);
    store.commit_filled(id, 200, far).unwrap();
    assert_eq!(invalidations(&mut store), vec![Invalidation { vmo: id, first_page: 200, page_count: 1 }]);
    assert_eq!(store.private_page(id, 200), Some(far));
    let out = read(&store, &mem, id, 200 * P, P).unwrap();
    assert!(out.iter().all(|&b| b == 0xa5));
    check_invariants(&store, &mem);
    assert_eq!(store.info(id).committed_bytes, 2 * P);
    store.release(id, &mut mem);
    assert_eq!(mem.live(), 0);
}
