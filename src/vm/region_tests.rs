//! Host tests of the region tree: each rule of ABI.md 62/63 and of map/unmap/protect in
//! a sub-region, then a randomized run against a page-by-page model.

use super::*;
use crate::abi::{USER_BASE, USER_END};
use crate::test_rng::Rng;
use crate::vm::vmar::{Unmapped, source, validate_map_options};
use std::format;
use std::string::String;
use std::vec;

const P: u64 = PAGE_SIZE;
const R: u32 = vm::PERM_READ;
const RW: u32 = vm::PERM_READ | vm::PERM_WRITE;
const RWX: u32 = vm::PERM_MASK;
const CR: u32 = vm::CAN_MAP_READ;
const CRW: u32 = vm::CAN_MAP_READ | vm::CAN_MAP_WRITE;
const CS: u32 = vm::CAN_MAP_SPECIFIC;
const FLOOR: u64 = USER_BASE + PLACEMENT_FLOOR_OFFSET;

fn user_space() -> (Vmar<u32>, RegionTree) {
    let vmar = Vmar::new(USER_BASE, USER_END - USER_BASE);
    let tree = RegionTree::new(&vmar);
    (vmar, tree)
}

fn req(options: u32) -> AllocateRequest {
    validate_allocate_options(options).unwrap()
}

fn map_req(options: u32) -> MapRequest {
    validate_map_options(options).unwrap()
}

/// Allocates `pages` pages in `parent` with `options`, at `offset` when SPECIFIC.
fn alloc(
    tree: &mut RegionTree,
    vmar: &Vmar<u32>,
    parent: RegionId,
    options: u32,
    offset: u64,
    pages: u64,
) -> ZxResult<(RegionId, u64)> {
    tree.allocate(vmar, parent, &req(options), offset, pages * P)
}

/// Maps `pages` pages of VMO `vmo` in `region`, max RWX.
fn map_in(
    tree: &mut RegionTree,
    vmar: &mut Vmar<u32>,
    region: RegionId,
    options: u32,
    offset: u64,
    pages: u64,
    vmo: u32,
) -> ZxResult<u64> {
    tree.map(vmar, region, &map_req(options), offset, source(pages * P, vmo, 0, RWX))
}

// ---- options ----

#[test]
fn allocate_options_decode_and_reject() {
    let r = req(CRW | CS | vm::SPECIFIC | vm::COMPACT | (16 << vm::ALIGN_SHIFT));
    assert_eq!(r, AllocateRequest { flags: CRW | CS | vm::COMPACT, specific: true, align: 1 << 16 });
    assert_eq!(req(0).align, P);
    assert_eq!(req(10 << vm::ALIGN_SHIFT).align, P);
    assert_eq!(req(32 << vm::ALIGN_SHIFT).align, 1 << 32);
    for bad in [
        vm::PERM_READ,
        vm::PERM_WRITE,
        vm::PERM_EXECUTE,
        vm::SPECIFIC_OVERWRITE,
        vm::MAP_RANGE,
        vm::REQUIRE_NON_RESIZABLE,
        super::super::vmar::VM_ALLOW_FAULTS,
        1 << 13,
        1 << 20,
        1 << 23,
        9 << vm::ALIGN_SHIFT,
        33 << vm::ALIGN_SHIFT,
        255 << vm::ALIGN_SHIFT,
    ] {
        assert_eq!(validate_allocate_options(CR | bad), Err(ZxError::InvalidArgs), "{bad:#x}");
    }
    assert_eq!(can_map_perms(CAN_MAP_RWX | CS), RWX);
    assert_eq!(can_map_perms(vm::CAN_MAP_WRITE), vm::PERM_WRITE);
    assert_eq!(can_map_perms(CS | vm::COMPACT), 0);
}

// ---- allocate ----

#[test]
fn root_region_matches_the_vmar() {
    let (_, tree) = user_space();
    let root = tree.get(RegionId::ROOT).unwrap();
    assert_eq!((root.base, root.len, root.flags), (USER_BASE, USER_END - USER_BASE, ROOT_FLAGS));
    assert_eq!(tree.region_count(), 1);
    assert!(RegionId::ROOT.is_root());
}

#[test]
fn allocate_places_like_mappings_and_nests() {
    let (mut vmar, mut tree) = user_space();
    // Without SPECIFIC, a region in the root goes above the floor, like a mapping.
    let (a, a_base) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW | CS, 0, 16).unwrap();
    assert_eq!(a_base, FLOOR);
    assert!(!a.is_root());
    let m = map_in(&mut tree, &mut vmar, RegionId::ROOT, R, 0, 1, 1).unwrap();
    assert_eq!(m, FLOOR + 16 * P, "a mapping goes after the region");
    let (_, b_base) = alloc(&mut tree, &vmar, RegionId::ROOT, CR | (16 << vm::ALIGN_SHIFT), 0, 1).unwrap();
    assert_eq!(b_base, align_up(FLOOR + 17 * P, 1 << 16).unwrap());
    // Nested, SPECIFIC, relative to the parent's base.
    let (inner, inner_base) = alloc(&mut tree, &vmar, a, CR | vm::SPECIFIC, 8 * P, 4).unwrap();
    assert_eq!(inner_base, a_base + 8 * P);
    let info = tree.get(inner).unwrap();
    assert_eq!((info.base, info.len, info.flags), (a_base + 8 * P, 4 * P, CR));
    // Without SPECIFIC inside a: the lowest free place, around the nested region.
    let (_, c_base) = alloc(&mut tree, &vmar, a, CR, 0, 8).unwrap();
    assert_eq!(c_base, a_base);
    let (_, d_base) = alloc(&mut tree, &vmar, a, CR, 0, 2).unwrap();
    assert_eq!(d_base, a_base + 12 * P);
    assert_eq!(alloc(&mut tree, &vmar, a, CR, 0, 3), Err(ZxError::NoMemory));
    let kids: Vec<u64> = tree.children(a).unwrap().map(|(_, i)| i.base).collect();
    assert_eq!(kids, vec![a_base, a_base + 8 * P, a_base + 12 * P]);
    assert_eq!(tree.region_count(), 6);
    // A region may be as large as its parent.
    let (whole, whole_base) = alloc(&mut tree, &vmar, inner, CR, 0, 4).unwrap();
    assert_eq!(whole_base, inner_base);
    assert_eq!(alloc(&mut tree, &vmar, whole, CR, 0, 5), Err(ZxError::InvalidArgs));
}

#[test]
fn allocate_check_order() {
    let (mut vmar, mut tree) = user_space();
    let root = RegionId::ROOT;
    // 3. size not a page multiple, before a destroyed parent.
    let (p, _) = alloc(&mut tree, &vmar, root, CR, 0, 64).unwrap();
    tree.destroy(&mut vmar, p).unwrap();
    assert_eq!(tree.allocate(&vmar, p, &req(CR), 0, 1), Err(ZxError::InvalidArgs));
    // 4. destroyed parent, before size 0.
    assert_eq!(tree.allocate(&vmar, p, &req(CR), 0, 0), Err(ZxError::BadState));
    // 5. size 0.
    assert_eq!(tree.allocate(&vmar, root, &req(CR), 0, 0), Err(ZxError::InvalidArgs));
    // 6. CAN_MAP_* beyond the parent, before an offset without SPECIFIC.
    let (ro, _) = alloc(&mut tree, &vmar, root, CR, 0, 64).unwrap();
    assert_eq!(alloc(&mut tree, &vmar, ro, CRW, P, 1), Err(ZxError::AccessDenied));
    assert_eq!(alloc(&mut tree, &vmar, ro, vm::CAN_MAP_EXECUTE, 0, 1), Err(ZxError::AccessDenied));
    // CAN_MAP_SPECIFIC is not inherited: a child may have it when the parent does not.
    assert!(alloc(&mut tree, &vmar, ro, CR | CS, 0, 1).is_ok());
    // 7. offset without SPECIFIC, before SPECIFIC without CAN_MAP_SPECIFIC.
    assert_eq!(alloc(&mut tree, &vmar, ro, CR, P, 1), Err(ZxError::InvalidArgs));
    // 8. SPECIFIC in a parent without CAN_MAP_SPECIFIC, before the range.
    assert_eq!(alloc(&mut tree, &vmar, ro, CR | vm::SPECIFIC, 1 << 40, 1), Err(ZxError::AccessDenied));
    // 9. the range.
    let (s, s_base) = alloc(&mut tree, &vmar, root, CR | CS | (16 << vm::ALIGN_SHIFT), 0, 64).unwrap();
    assert_eq!(s_base % (1 << 16), 0);
    for (offset, pages) in [(64 * P, 1), (63 * P, 2), (u64::MAX - P + 1, 1), (P, u64::MAX / P)] {
        assert_eq!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, offset, pages), Err(ZxError::InvalidArgs));
    }
    assert_eq!(alloc(&mut tree, &vmar, s, CR, 0, 65), Err(ZxError::InvalidArgs));
    // 10. alignment of a SPECIFIC base (page and ALIGN), then overlap.
    assert_eq!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 100, 1), Err(ZxError::InvalidArgs));
    let align64k = 16 << vm::ALIGN_SHIFT;
    assert_eq!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC | align64k, P, 16), Err(ZxError::InvalidArgs));
    assert!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC | align64k, 16 * P, 16).is_ok());
    assert_eq!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 31 * P, 2), Err(ZxError::NoMemory));
    let count = tree.region_count();
    let (at, at_base) = alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 32 * P, 1).unwrap();
    assert_eq!(at_base, s_base + 32 * P);
    assert_eq!(tree.get(at).unwrap().len, P);
    assert_eq!(tree.region_count(), count + 1);
}

#[test]
fn allocate_specific_overlapping_a_mapping_is_no_memory() {
    let (mut vmar, mut tree) = user_space();
    let (s, _) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW | CS, 0, 16).unwrap();
    map_in(&mut tree, &mut vmar, s, R | vm::SPECIFIC, 4 * P, 2, 1).unwrap();
    assert_eq!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 4 * P, 1), Err(ZxError::NoMemory));
    assert_eq!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 3 * P, 2), Err(ZxError::NoMemory));
    assert!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 6 * P, 1).is_ok());
    // Without SPECIFIC it fits around the mapping.
    let (_, at) = alloc(&mut tree, &vmar, s, CR, 0, 5).unwrap();
    assert_eq!(at, tree.get(s).unwrap().base + 7 * P);
}

// ---- map ----

#[test]
fn map_in_a_sub_region() {
    let (mut vmar, mut tree) = user_space();
    let (s, base) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW | CS, 0, 16).unwrap();
    // SPECIFIC offsets are relative to the region.
    assert_eq!(map_in(&mut tree, &mut vmar, s, RW | vm::SPECIFIC, 4 * P, 2, 1), Ok(base + 4 * P));
    let (inner, inner_base) = alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 8 * P, 4).unwrap();
    // Without SPECIFIC: inside the region, around the mapping and the nested region.
    assert_eq!(map_in(&mut tree, &mut vmar, s, R, 0, 4, 2), Ok(base));
    assert_eq!(map_in(&mut tree, &mut vmar, s, R, 0, 2, 3), Ok(base + 6 * P));
    assert_eq!(map_in(&mut tree, &mut vmar, s, R, 0, 4, 4), Ok(base + 12 * P));
    assert_eq!(map_in(&mut tree, &mut vmar, s, R, 0, 1, 5), Err(ZxError::NoMemory));
    assert_eq!(map_in(&mut tree, &mut vmar, s, R, 0, 17, 5), Err(ZxError::InvalidArgs));
    // In the nested region.
    assert_eq!(map_in(&mut tree, &mut vmar, inner, R, 0, 1, 6), Ok(inner_base));
    // Past the end; taken; over the nested region.
    assert_eq!(map_in(&mut tree, &mut vmar, s, R | vm::SPECIFIC, 15 * P, 2, 7), Err(ZxError::InvalidArgs));
    assert_eq!(map_in(&mut tree, &mut vmar, s, R | vm::SPECIFIC, 16 * P, 1, 7), Err(ZxError::InvalidArgs));
    assert_eq!(map_in(&mut tree, &mut vmar, s, R | vm::SPECIFIC, 5 * P, 1, 7), Err(ZxError::NoMemory));
    assert_eq!(map_in(&mut tree, &mut vmar, s, R | vm::SPECIFIC, 9 * P, 1, 7), Err(ZxError::NoMemory));
    // SPECIFIC_OVERWRITE never destroys a region.
    assert_eq!(map_in(&mut tree, &mut vmar, s, R | vm::SPECIFIC_OVERWRITE, 7 * P, 2, 7), Err(ZxError::InvalidArgs));
    let addr = tree.map(&mut vmar, s, &map_req(R | vm::SPECIFIC_OVERWRITE), 5 * P, source(P, 7, 0, RWX)).unwrap();
    let removed = take_all(&mut vmar);
    assert_eq!(addr, base + 5 * P);
    assert_eq!(removed.len(), 1);
    assert_eq!((removed[0].mapping.base, removed[0].mapping.vmo, removed[0].pieces_left), (base + 5 * P, 1, 1));
    // Permissions beyond the region's CAN_MAP_*; max_perms capped by them.
    assert_eq!(map_in(&mut tree, &mut vmar, inner, RW, 0, 1, 8), Err(ZxError::AccessDenied));
    assert_eq!(vmar.find(inner_base).unwrap().max_perms(), R);
    assert_eq!(vmar.find(base).unwrap().max_perms(), RW);
    // An offset without SPECIFIC; SPECIFIC where the region lacks CAN_MAP_SPECIFIC.
    assert_eq!(map_in(&mut tree, &mut vmar, s, R, P, 1, 8), Err(ZxError::InvalidArgs));
    assert_eq!(map_in(&mut tree, &mut vmar, inner, R | vm::SPECIFIC, P, 1, 8), Err(ZxError::AccessDenied));
    // Alignment of the absolute address.
    let (big, big_base) = alloc(&mut tree, &vmar, RegionId::ROOT, CR | CS | (16 << vm::ALIGN_SHIFT), 0, 32).unwrap();
    assert_eq!(
        map_in(&mut tree, &mut vmar, big, R | vm::SPECIFIC | (16 << vm::ALIGN_SHIFT), P, 1, 9),
        Err(ZxError::InvalidArgs)
    );
    assert_eq!(map_in(&mut tree, &mut vmar, big, R | (16 << vm::ALIGN_SHIFT), 0, 1, 9), Ok(big_base));
    assert_eq!(map_in(&mut tree, &mut vmar, big, R | (16 << vm::ALIGN_SHIFT), 0, 1, 9), Ok(big_base + (1 << 16)));
    // Argument checks come before the destroyed check.
    tree.destroy(&mut vmar, big).unwrap();
    assert_eq!(tree.map(&mut vmar, big, &map_req(R), 0, source(0, 9, 0, RWX)), Err(ZxError::InvalidArgs));
    assert_eq!(tree.map(&mut vmar, big, &map_req(RW), 0, source(P, 9, 0, R)), Err(ZxError::AccessDenied));
    assert_eq!(tree.map(&mut vmar, big, &map_req(R), P, source(P, 9, 0, R)), Err(ZxError::BadState));
}

#[test]
fn root_placement_is_unchanged_by_the_tree() {
    // The same maps through the tree and straight into a plain VMAR land alike.
    let (mut vmar, mut tree) = user_space();
    let mut plain: Vmar<u32> = Vmar::new(USER_BASE, USER_END - USER_BASE);
    let cases: [(u32, u64, u64); 6] = [
        (R, 0, 2),
        (R | vm::SPECIFIC, 0x40_0000 - USER_BASE, 4),
        (R | (21 << vm::ALIGN_SHIFT), 0, 1),
        (R, 0, 3),
        (R | vm::SPECIFIC, PLACEMENT_FLOOR_OFFSET + 2 * P, 1),
        (R, 0, 2),
    ];
    for (i, (options, offset, pages)) in cases.into_iter().enumerate() {
        let r = map_req(options);
        let ours = tree.map(&mut vmar, RegionId::ROOT, &r, offset, source(pages * P, i as u32, 0, RWX));
        let placement = r.placement(offset).unwrap();
        let theirs = plain.map(placement, r.align, r.perms, source(pages * P, i as u32, 0, RWX));
        assert_eq!(ours, theirs, "case {i}");
    }
    let high_len = vmar.end() - FLOOR;
    let ours = tree.map(&mut vmar, RegionId::ROOT, &map_req(R), 0, source(high_len, 9, 0, R));
    assert_eq!(ours, Err(ZxError::NoMemory), "the floor is taken in part: the low part is too small");
    assert_eq!(map_in(&mut tree, &mut vmar, RegionId::ROOT, R, 0, 1, 9), Ok(FLOOR + 7 * P));
}

// ---- unmap ----

#[test]
fn unmap_destroys_wholly_contained_regions_only() {
    let (mut vmar, mut tree) = user_space();
    let (s, base) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW | CS, 0, 16).unwrap();
    map_in(&mut tree, &mut vmar, s, RW | vm::SPECIFIC, 0, 2, 1).unwrap();
    let (inner, _) = alloc(&mut tree, &vmar, s, CR | CS | vm::SPECIFIC, 4 * P, 4).unwrap();
    map_in(&mut tree, &mut vmar, inner, R | vm::SPECIFIC, P, 1, 2).unwrap();
    let (deeper, _) = alloc(&mut tree, &vmar, inner, CR | vm::SPECIFIC, 2 * P, 2).unwrap();
    map_in(&mut tree, &mut vmar, deeper, R, 0, 2, 3).unwrap();
    // Partial overlaps, through the parent and through the root.
    for (start, pages) in [(3, 2), (5, 1), (7, 2), (4, 3)] {
        assert_eq!(tree.unmap(&mut vmar, s, base + start * P, pages * P), Err(ZxError::InvalidArgs));
    }
    assert_eq!(tree.unmap(&mut vmar, RegionId::ROOT, base, 8 * P), Err(ZxError::InvalidArgs));
    assert_eq!(tree.unmap(&mut vmar, RegionId::ROOT, base + 5 * P, P), Err(ZxError::InvalidArgs));
    assert_eq!(vmar.mapping_count(), 3);
    // Inside the region itself it works as in a VMAR.
    tree.unmap(&mut vmar, inner, base + 4 * P, 2 * P).unwrap();
    assert_eq!(take_all(&mut vmar).len(), 1);
    // Outside the region through its handle.
    assert_eq!(tree.unmap(&mut vmar, inner, base, P), Err(ZxError::InvalidArgs));
    // Wholly: the nested regions go, with their mappings.
    tree.unmap(&mut vmar, s, base + P, 8 * P).unwrap();
    let removed = take_all(&mut vmar);
    let summary: Vec<(u64, u32)> = removed.iter().map(|u| (u.mapping.base, u.mapping.vmo)).collect();
    assert_eq!(summary, vec![(base + P, 1), (base + 6 * P, 3)]);
    assert_eq!(tree.get(inner), Err(ZxError::BadState));
    assert_eq!(tree.get(deeper), Err(ZxError::BadState));
    assert_eq!(tree.region_count(), 2);
    assert_eq!(tree.children(s).unwrap().count(), 0);
    // The range is free again.
    assert!(alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 4 * P, 4).is_ok());
    // Unmap of a root range holding the whole region destroys it.
    tree.unmap(&mut vmar, RegionId::ROOT, base, 16 * P).unwrap();
    assert_eq!(take_all(&mut vmar).len(), 1);
    assert_eq!(tree.get(s), Err(ZxError::BadState));
    assert_eq!(tree.region_count(), 1);
    assert_eq!(vmar.mapping_count(), 0);
}

#[test]
fn unmap_check_order() {
    let (mut vmar, mut tree) = user_space();
    let (s, base) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW, 0, 4).unwrap();
    tree.destroy(&mut vmar, s).unwrap();
    assert_eq!(tree.unmap(&mut vmar, s, base + 1, P), Err(ZxError::InvalidArgs));
    assert_eq!(tree.unmap(&mut vmar, s, base, 0), Err(ZxError::InvalidArgs));
    assert_eq!(tree.unmap(&mut vmar, s, base, u64::MAX), Err(ZxError::InvalidArgs));
    assert_eq!(tree.unmap(&mut vmar, s, 0, P), Err(ZxError::BadState));
    assert_eq!(tree.unmap(&mut vmar, s, base, P), Err(ZxError::BadState));
    let (t, t_base) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW, 0, 4).unwrap();
    assert_eq!(tree.unmap(&mut vmar, t, t_base + 3 * P, 2 * P), Err(ZxError::InvalidArgs));
    assert_eq!(tree.unmap(&mut vmar, t, t_base - P, 2 * P), Err(ZxError::InvalidArgs));
    assert_eq!(tree.unmap(&mut vmar, t, !(P - 1), P), Err(ZxError::InvalidArgs));
    assert_eq!(tree.unmap(&mut vmar, t, t_base, 4 * P), Ok(()));
    assert!(take_all(&mut vmar).is_empty());
}

// ---- protect ----

#[test]
fn protect_in_and_around_sub_regions() {
    let (mut vmar, mut tree) = user_space();
    let (s, base) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW | CS, 0, 16).unwrap();
    map_in(&mut tree, &mut vmar, s, RW | vm::SPECIFIC, 0, 4, 1).unwrap();
    let (inner, _) = alloc(&mut tree, &vmar, s, CRW | CS | vm::SPECIFIC, 4 * P, 2).unwrap();
    map_in(&mut tree, &mut vmar, inner, RW | vm::SPECIFIC, 0, 2, 2).unwrap();
    map_in(&mut tree, &mut vmar, s, RW | vm::SPECIFIC, 6 * P, 2, 3).unwrap();
    // Inside s, up to the child: fine.
    assert_eq!(tree.protect(&mut vmar, s, base + 2 * P, 2 * P, R).unwrap().changed, 1);
    // Across the child: INVALID_ARGS, nothing changed.
    assert_eq!(tree.protect(&mut vmar, s, base, 8 * P, R), Err(ZxError::InvalidArgs));
    assert_eq!(vmar.find(base).unwrap().perms(), RW);
    assert_eq!(vmar.find(base + 6 * P).unwrap().perms(), RW);
    // A hole before the child is found first.
    tree.unmap(&mut vmar, s, base + P, P).unwrap();
    take_all(&mut vmar);
    assert_eq!(tree.protect(&mut vmar, s, base, 8 * P, R), Err(ZxError::NotFound));
    // A limit before the child is found first.
    tree.map(&mut vmar, s, &map_req(R | vm::SPECIFIC), P, source(P, 4, 0, R)).unwrap();
    assert_eq!(tree.protect(&mut vmar, s, base, 8 * P, RW), Err(ZxError::AccessDenied));
    // The child at the start of the range.
    assert_eq!(tree.protect(&mut vmar, s, base + 4 * P, 4 * P, R), Err(ZxError::InvalidArgs));
    // Through the child itself: its own mappings.
    assert_eq!(tree.protect(&mut vmar, inner, base + 4 * P, 2 * P, R).unwrap().changed, 1);
    assert_eq!(tree.protect(&mut vmar, inner, base + 4 * P, 3 * P, R), Err(ZxError::InvalidArgs));
    // The root sees s as one child region.
    assert_eq!(tree.protect(&mut vmar, RegionId::ROOT, base, P, R), Err(ZxError::InvalidArgs));
    // Order: options, then destroyed, then the range.
    tree.destroy(&mut vmar, inner).unwrap();
    assert_eq!(tree.protect(&mut vmar, inner, base + 4 * P, P, vm::PERM_WRITE), Err(ZxError::InvalidArgs));
    assert_eq!(tree.protect(&mut vmar, inner, base + 4 * P + 1, P, R), Err(ZxError::InvalidArgs));
    assert_eq!(tree.protect(&mut vmar, inner, 0, P, R), Err(ZxError::BadState));
    assert_eq!(tree.protect(&mut vmar, s, base + 4 * P, 2 * P, R), Err(ZxError::NotFound));
}

// ---- destroy ----

#[test]
fn destroy_unmaps_and_destroys_below() {
    let (mut vmar, mut tree) = user_space();
    assert_eq!(tree.destroy(&mut vmar, RegionId::ROOT), Err(ZxError::NotSupported));
    let (s, base) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW | CS, 0, 8).unwrap();
    map_in(&mut tree, &mut vmar, s, RW | vm::SPECIFIC, 0, 2, 1).unwrap();
    let (inner, _) = alloc(&mut tree, &vmar, s, CR | vm::SPECIFIC, 4 * P, 4).unwrap();
    map_in(&mut tree, &mut vmar, inner, R, 0, 1, 2).unwrap();
    let outside = map_in(&mut tree, &mut vmar, RegionId::ROOT, R, 0, 1, 3).unwrap();
    tree.destroy(&mut vmar, s).unwrap();
    let removed = take_all(&mut vmar);
    let mut vmos: Vec<u32> = removed.iter().map(|u| u.mapping.vmo).collect();
    vmos.sort_unstable();
    assert_eq!(vmos, vec![1, 2]);
    assert!(removed.iter().all(|u| u.pieces_left == 0));
    assert_eq!(vmar.mapping_count(), 1);
    assert_eq!(vmar.find(outside).unwrap().vmo, 3);
    for id in [s, inner] {
        assert_eq!(tree.get(id), Err(ZxError::BadState));
        assert_eq!(tree.destroy(&mut vmar, id), Err(ZxError::BadState));
        assert_eq!(map_in(&mut tree, &mut vmar, id, R, 0, 1, 4), Err(ZxError::BadState));
        assert_eq!(alloc(&mut tree, &vmar, id, CR, 0, 1), Err(ZxError::BadState));
    }
    assert_eq!(tree.region_count(), 1);
    // The range is free in the root again; reused slots never revive old ids.
    assert_eq!(map_in(&mut tree, &mut vmar, RegionId::ROOT, RW | vm::SPECIFIC, base - USER_BASE, 8, 5), Ok(base));
    tree.unmap(&mut vmar, RegionId::ROOT, base, 8 * P).unwrap();
    let (again, again_base) = alloc(&mut tree, &vmar, RegionId::ROOT, CRW, 0, 8).unwrap();
    assert_eq!(again_base, base);
    assert_ne!(again, s);
    assert_ne!(again, inner);
    assert_eq!(tree.get(s), Err(ZxError::BadState));
    assert_eq!(tree.get(inner), Err(ZxError::BadState));
    assert_eq!(tree.get(again).unwrap().base, base);
}

#[test]
fn deep_nesting_is_destroyed_without_recursion() {
    let (mut vmar, mut tree) = user_space();
    let (top, base) = alloc(&mut tree, &vmar, RegionId::ROOT, CR, 0, 2).unwrap();
    let mut parent = top;
    for _ in 0..100_000 {
        let (child, child_base) = alloc(&mut tree, &vmar, parent, CR, 0, 2).unwrap();
        assert_eq!(child_base, base);
        parent = child;
    }
    map_in(&mut tree, &mut vmar, parent, R, 0, 1, 1).unwrap();
    assert_eq!(tree.region_count(), 100_002);
    tree.unmap(&mut vmar, RegionId::ROOT, base, 2 * P).unwrap();
    assert_eq!(take_all(&mut vmar).len(), 1);
    assert_eq!(tree.region_count(), 1);
    assert_eq!(tree.get(parent), Err(ZxError::BadState));
    // The slots are reused.
    let slots = tree.slots.len();
    for _ in 0..10 {
        alloc(&mut tree, &vmar, RegionId::ROOT, CR, 0, 1).unwrap();
    }
    assert_eq!(tree.slots.len(), slots);
}

#[test]
fn small_tree_top_of_space() {
    // A region ending at the end of a small root; placement runs from the base.
    let vmar: Vmar<u32> = Vmar::new(0x10_0000, 8 * P);
    let mut tree = RegionTree::new(&vmar);
    assert_eq!(alloc(&mut tree, &vmar, RegionId::ROOT, CR, 0, 8).map(|(_, b)| b), Ok(0x10_0000));
    assert_eq!(alloc(&mut tree, &vmar, RegionId::ROOT, CR, 0, 1), Err(ZxError::NoMemory));
    assert_eq!(alloc(&mut tree, &vmar, RegionId::ROOT, CR, 0, 9), Err(ZxError::InvalidArgs));
}

// ---- randomized, against a model ----

/// The model's region: pages are absolute page numbers.
#[derive(Clone, Debug)]
struct MRegion {
    id: RegionId,
    parent: usize,
    base: u64,
    pages: u64,
    flags: u32,
    alive: bool,
}

impl MRegion {
    fn end(&self) -> u64 {
        self.base + self.pages
    }
    fn contains(&self, page: u64) -> bool {
        self.base <= page && page < self.end()
    }
}

/// What is mapped at one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MPage {
    vmo: u32,
    vmo_page: u64,
    perms: u32,
    max: u32,
}

/// Root: pages [FIRST, FIRST + PAGES), small enough that the placement floor lies past
/// its end, so placement is lowest-first everywhere.
const FIRST: u64 = 0x100;
const PAGES: u64 = 96;

struct Model {
    regions: Vec<MRegion>,
    pages: Vec<Option<MPage>>,
}

impl Model {
    fn page(&self, page: u64) -> Option<MPage> {
        self.pages[(page - FIRST) as usize]
    }
    fn set(&mut self, page: u64, value: Option<MPage>) {
        self.pages[(page - FIRST) as usize] = value;
    }
    /// The live direct child of region `r` containing `page`.
    fn child_at(&self, r: usize, page: u64) -> Option<usize> {
        (1..self.regions.len()).find(|&i| {
            let c = &self.regions[i];
            c.alive && c.parent == r && c.contains(page)
        })
    }
    fn free_in(&self, r: usize, page: u64) -> bool {
        self.child_at(r, page).is_none() && self.page(page).is_none()
    }
    /// Destroys region `r` and everything below it; returns the mapped pages removed.
    fn kill(&mut self, r: usize) -> u64 {
        let mut removed = 0;
        let (base, end) = (self.regions[r].base, self.regions[r].end());
        for page in base..end {
            if self.page(page).is_some() {
                removed += 1;
                self.set(page, None);
            }
        }
        let mut doomed = vec![r];
        while let Some(d) = doomed.pop() {
            self.regions[d].alive = false;
            doomed.extend((1..self.regions.len()).filter(|&i| self.regions[i].alive && self.regions[i].parent == d));
        }
        removed
    }
    /// Lowest `align_pages`-aligned run of `pages` free pages in region `r`.
    fn lowest_free(&self, r: usize, pages: u64, align_pages: u64) -> Option<u64> {
        let region = &self.regions[r];
        let mut start = region.base.div_ceil(align_pages) * align_pages;
        while start + pages <= region.end() {
            if (start..start + pages).all(|p| self.free_in(r, p)) {
                return Some(start);
            }
            start += align_pages;
        }
        None
    }
}

/// Every piece the last unmap, destroy or overwriting map took out of `vmar`.
fn take_all(vmar: &mut Vmar<u32>) -> Vec<Unmapped<u32>> {
    let mut all = Vec::new();
    while let Some(piece) = vmar.take_unmapped() {
        all.push(piece);
    }
    all
}

fn removed_pages(removed: &[Unmapped<u32>]) -> u64 {
    removed.iter().map(|u| u.mapping.len / P).sum()
}

#[test]
// The model spells out each numbered check, even where two give the same error.
#[allow(clippy::if_same_then_else)]
fn randomized_against_a_model() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut vmar: Vmar<u32> = Vmar::new(FIRST * P, PAGES * P);
    let mut tree = RegionTree::new(&vmar);
    let mut model = Model {
        regions: vec![MRegion {
            id: RegionId::ROOT,
            parent: 0,
            base: FIRST,
            pages: PAGES,
            flags: ROOT_FLAGS,
            alive: true,
        }],
        pages: vec![None; PAGES as usize],
    };
    let mut next_vmo = 1u32;
    let mut log: Vec<String> = Vec::new();
    let mut seen: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    let aligns = [0u32, 0, 0, 12, 13, 14];

    for step in 0..20_000 {
        let leftover = take_all(&mut vmar);
        assert!(
            leftover.is_empty(),
            "step {step}: pieces left by the previous step: {}\n{}",
            leftover.len(),
            log.join("\n")
        );
        // Mostly live regions; sometimes a dead one.
        let r = {
            let live: Vec<usize> = (0..model.regions.len()).filter(|&i| model.regions[i].alive).collect();
            if rng.chance(8) && live.len() < model.regions.len() {
                rng.below(model.regions.len() as u64) as usize
            } else {
                live[rng.below(live.len() as u64) as usize]
            }
        };
        let region = model.regions[r].clone();
        let id = region.id;
        let what: String;
        let outcome: ZxResult<()>;
        match rng.below(100) {
            // allocate
            0..=29 => {
                let mut options =
                    vm::CAN_MAP_MASK & (rng.next_u64() as u32) & (region.flags | rng.pick(&[0, CAN_MAP_RWX]));
                if rng.chance(30) {
                    options |= vm::SPECIFIC;
                }
                if rng.chance(10) {
                    options |= vm::COMPACT;
                }
                let align_log2 = rng.pick(&aligns);
                options |= align_log2 << vm::ALIGN_SHIFT;
                let offset =
                    if options & vm::SPECIFIC != 0 || rng.chance(5) { rng.below(region.pages + 2) * P } else { 0 };
                let offset = if rng.chance(3) { offset + 512 } else { offset };
                let pages = rng.below(region.pages.min(24) + 1);
                let size = if rng.chance(4) { pages * P + 100 } else { pages * P };
                let request = validate_allocate_options(options).unwrap();
                let align_pages = (request.align / P).max(1);
                let specific = request.specific;
                let expected: ZxResult<u64> = if !size.is_multiple_of(P) {
                    Err(ZxError::InvalidArgs)
                } else if !region.alive {
                    Err(ZxError::BadState)
                } else if size == 0 {
                    Err(ZxError::InvalidArgs)
                } else if options & CAN_MAP_RWX & !region.flags != 0 {
                    Err(ZxError::AccessDenied)
                } else if offset != 0 && !specific {
                    Err(ZxError::InvalidArgs)
                } else if specific && region.flags & CS == 0 {
                    Err(ZxError::AccessDenied)
                } else if offset >= region.pages * P || size > region.pages * P - offset {
                    Err(ZxError::InvalidArgs)
                } else if specific {
                    let start = region.base * P + offset;
                    if !start.is_multiple_of(align_pages * P) {
                        Err(ZxError::InvalidArgs)
                    } else if (start / P..start / P + pages).any(|p| !model.free_in(r, p)) {
                        Err(ZxError::NoMemory)
                    } else {
                        Ok(start / P)
                    }
                } else {
                    model.lowest_free(r, pages, align_pages).ok_or(ZxError::NoMemory)
                };
                let got = tree.allocate(&vmar, id, &request, offset, size);
                assert_eq!(
                    got.map(|(_, b)| b / P),
                    expected,
                    "step {step}: allocate {options:#x} off {offset:#x} size {size:#x} in {r}\n{}",
                    log.join("\n")
                );
                if let Ok((new_id, base)) = got {
                    model.regions.push(MRegion {
                        id: new_id,
                        parent: r,
                        base: base / P,
                        pages,
                        flags: options & (vm::CAN_MAP_MASK | vm::COMPACT),
                        alive: true,
                    });
                }
                outcome = got.map(|_| ());
                what = format!("allocate {options:#x} off {offset:#x} size {size:#x} in {r}");
            }
            // map
            30..=59 => {
                let perms = rng.pick(&[0, R, R, RW, RW, RWX, R | vm::PERM_EXECUTE]);
                let max = rng.pick(&[RWX, RWX, RWX, RW, R, 0]);
                let mut options = perms;
                let placement = rng.below(10);
                match placement {
                    0..=3 => options |= vm::SPECIFIC,
                    4 => options |= vm::SPECIFIC_OVERWRITE,
                    _ => {}
                }
                options |= rng.pick(&aligns) << vm::ALIGN_SHIFT;
                let request = validate_map_options(options).unwrap();
                let offset = if request.specific || rng.chance(5) { rng.below(region.pages + 2) * P } else { 0 };
                let pages = 1 + rng.below(region.pages.min(12));
                let vmo = next_vmo;
                next_vmo += 1;
                let vmo_page = rng.below(4);
                let region_perms = can_map_perms(region.flags);
                let align_pages = request.align / P;
                let expected: ZxResult<u64> = if perms & !max != 0 {
                    Err(ZxError::AccessDenied)
                } else if !region.alive {
                    Err(ZxError::BadState)
                } else if perms & !region_perms != 0 {
                    Err(ZxError::AccessDenied)
                } else if offset != 0 && !request.specific {
                    Err(ZxError::InvalidArgs)
                } else if request.specific && region.flags & CS == 0 {
                    Err(ZxError::AccessDenied)
                } else if request.specific {
                    let start = region.base + offset / P;
                    if offset >= region.pages * P || pages > region.pages - offset / P {
                        Err(ZxError::InvalidArgs)
                    } else if !start.is_multiple_of(align_pages) {
                        Err(ZxError::InvalidArgs)
                    } else if (start..start + pages).any(|p| model.child_at(r, p).is_some()) {
                        Err(if request.overwrite { ZxError::InvalidArgs } else { ZxError::NoMemory })
                    } else if !request.overwrite && (start..start + pages).any(|p| model.page(p).is_some()) {
                        Err(ZxError::NoMemory)
                    } else {
                        Ok(start)
                    }
                } else if pages > region.pages {
                    Err(ZxError::InvalidArgs)
                } else {
                    model.lowest_free(r, pages, align_pages).ok_or(ZxError::NoMemory)
                };
                let got = tree.map(&mut vmar, id, &request, offset, source(pages * P, vmo, vmo_page * P, max));
                let detail = format!("map {options:#x} off {offset:#x} pages {pages} max {max:#x} vmo {vmo} in {r}");
                assert_eq!(
                    got.as_ref().map(|a| a / P).map_err(|e| *e),
                    expected,
                    "step {step}: {detail}\n{}",
                    log.join("\n")
                );
                let removed = take_all(&mut vmar);
                if let Ok(addr) = &got {
                    let start = addr / P;
                    let before = (start..start + pages).filter(|&p| model.page(p).is_some()).count() as u64;
                    assert_eq!(removed_pages(&removed), before, "step {step}: overwrite removed");
                    for (i, p) in (start..start + pages).enumerate() {
                        let page = MPage { vmo, vmo_page: vmo_page + i as u64, perms, max: max & region_perms };
                        model.set(p, Some(page));
                    }
                }
                outcome = got.map(|_| ());
                what = detail;
            }
            // unmap
            60..=79 => {
                let start = (region.base + rng.below(region.pages + 2)).saturating_sub(1);
                let pages = rng.below(region.pages.min(20) + 1);
                let addr = if rng.chance(3) { start * P + 8 } else { start * P };
                let len = if pages > 0 && rng.chance(20) { pages * P - P / 2 } else { pages * P }; // rounds up
                let len_pages = len.div_ceil(P);
                let end = start + len_pages;
                let children: Vec<usize> = (1..model.regions.len())
                    .filter(|&i| {
                        let c = &model.regions[i];
                        c.alive && c.parent == r && c.base < end && start < c.end()
                    })
                    .collect();
                let expected: ZxResult<u64> = if !addr.is_multiple_of(P) || len_pages == 0 {
                    Err(ZxError::InvalidArgs)
                } else if !region.alive {
                    Err(ZxError::BadState)
                } else if start < region.base || end > region.end() {
                    Err(ZxError::InvalidArgs)
                } else if children.iter().any(|&c| model.regions[c].base < start || model.regions[c].end() > end) {
                    Err(ZxError::InvalidArgs)
                } else {
                    let mut removed = 0;
                    for c in children {
                        removed += model.kill(c);
                    }
                    for p in start..end {
                        if model.page(p).is_some() {
                            removed += 1;
                            model.set(p, None);
                        }
                    }
                    Ok(removed)
                };
                let got = tree.unmap(&mut vmar, id, addr, len);
                let removed = take_all(&mut vmar);
                let detail = format!("unmap {addr:#x} len {len:#x} in {r}");
                assert_eq!(
                    got.as_ref().map(|_| removed_pages(&removed)).map_err(|e| *e),
                    expected,
                    "step {step}: {detail}\n{}",
                    log.join("\n")
                );
                outcome = got.map(|_| ());
                what = detail;
            }
            // protect
            80..=91 => {
                // Half the time from a mapped page of the region, where protect can succeed.
                let mapped: Vec<u64> = (region.base..region.end()).filter(|&p| model.page(p).is_some()).collect();
                let start = if !mapped.is_empty() && rng.chance(50) {
                    rng.pick(&mapped)
                } else {
                    (region.base + rng.below(region.pages + 2)).saturating_sub(1)
                };
                let most = if rng.chance(50) { 3 } else { 12 };
                let pages = rng.below(region.pages.min(most) + 1);
                let perms = rng.pick(&[0, R, RW, RWX, vm::PERM_WRITE]);
                let addr = if rng.chance(3) { start * P + 8 } else { start * P };
                let end = start + pages;
                let expected: ZxResult<u64> = if !is_valid_protection(perms) || !addr.is_multiple_of(P) || pages == 0 {
                    Err(ZxError::InvalidArgs)
                } else if !region.alive {
                    Err(ZxError::BadState)
                } else if start < region.base || end > region.end() {
                    Err(ZxError::InvalidArgs)
                } else {
                    let problem = (start..end).find_map(|p| {
                        if model.child_at(r, p).is_some() {
                            Some(ZxError::InvalidArgs)
                        } else {
                            match model.page(p) {
                                None => Some(ZxError::NotFound),
                                Some(m) if perms & !m.max != 0 => Some(ZxError::AccessDenied),
                                Some(_) => None,
                            }
                        }
                    });
                    match problem {
                        Some(e) => Err(e),
                        None => {
                            let mut changed = 0;
                            for p in start..end {
                                let mut m = model.page(p).unwrap();
                                if m.perms != perms {
                                    changed += 1;
                                    m.perms = perms;
                                }
                                model.set(p, Some(m));
                            }
                            Ok(changed)
                        }
                    }
                };
                let got = tree.protect(&mut vmar, id, addr, pages * P, perms);
                let detail = format!("protect {addr:#x} pages {pages} perms {perms:#x} in {r}");
                // The outcome (which error, or success); the pages' new permissions are
                // compared with the model page by page afterwards.
                let got_result = got.as_ref().map(|_| ()).map_err(|e| *e);
                assert_eq!(got_result, expected.map(|_| ()), "step {step}: {detail}\n{}", log.join("\n"));
                outcome = got.map(|_| ());
                what = detail;
            }
            // destroy
            _ => {
                let expected: ZxResult<u64> = if r == 0 {
                    Err(ZxError::NotSupported)
                } else if !region.alive {
                    Err(ZxError::BadState)
                } else {
                    Ok(model.kill(r))
                };
                let got = tree.destroy(&mut vmar, id);
                let removed = take_all(&mut vmar);
                assert_eq!(
                    got.as_ref().map(|_| removed_pages(&removed)).map_err(|e| *e),
                    expected,
                    "step {step}: destroy {r}\n{}",
                    log.join("\n")
                );
                outcome = got.map(|_| ());
                what = format!("destroy {r}");
            }
        }
        let kind = what.split(' ').next().unwrap_or("").to_owned();
        *seen.entry(format!("{kind} {outcome:?}")).or_default() += 1;
        log.push(format!("{step}: {what} -> {outcome:?}"));
        if log.len() > 40 {
            log.remove(0);
        }

        // The flat VMAR shows exactly the model's pages.
        for p in FIRST..FIRST + PAGES {
            let got = vmar.find(p * P).map(|m| MPage {
                vmo: m.vmo,
                vmo_page: (m.vmo_offset + (p * P - m.base)) / P,
                perms: m.perms(),
                max: m.max_perms(),
            });
            assert_eq!(got, model.page(p), "step {step}: page {p:#x}\n{}", log.join("\n"));
        }
        // The tree has exactly the model's live regions, each with its children.
        let live = model.regions.iter().filter(|m| m.alive).count();
        assert_eq!(tree.region_count(), live, "step {step}");
        for (i, m) in model.regions.iter().enumerate() {
            if !m.alive {
                assert_eq!(tree.get(m.id), Err(ZxError::BadState), "step {step}: region {i}");
                continue;
            }
            let info = tree.get(m.id).unwrap();
            assert_eq!(
                (info.base, info.len, info.flags),
                (m.base * P, m.pages * P, m.flags),
                "step {step}: region {i}"
            );
            let kids: Vec<u64> = tree.children(m.id).unwrap().map(|(_, c)| c.base / P).collect();
            let mut want: Vec<u64> = (1..model.regions.len())
                .filter(|&j| model.regions[j].alive && model.regions[j].parent == i)
                .map(|j| model.regions[j].base)
                .collect();
            want.sort_unstable();
            assert_eq!(kids, want, "step {step}: children of {i}");
        }
        // Keep the model small: start over now and then.
        if model.regions.len() > 300 {
            for i in 1..model.regions.len() {
                if model.regions[i].alive && model.regions[i].parent == 0 {
                    tree.destroy(&mut vmar, model.regions[i].id).unwrap();
                    take_all(&mut vmar);
                    model.kill(i);
                }
            }
            let len = vmar.len();
            tree.unmap(&mut vmar, RegionId::ROOT, FIRST * P, len).unwrap();
            take_all(&mut vmar);
            model.pages.iter_mut().for_each(|p| *p = None);
            model.regions.truncate(1);
            assert_eq!(tree.region_count(), 1);
        }
    }
    // The run reached every interesting outcome.
    for key in [
        "allocate Ok(())",
        "allocate Err(InvalidArgs)",
        "allocate Err(BadState)",
        "allocate Err(AccessDenied)",
        "allocate Err(NoMemory)",
        "map Ok(())",
        "map Err(InvalidArgs)",
        "map Err(BadState)",
        "map Err(AccessDenied)",
        "map Err(NoMemory)",
        "unmap Ok(())",
        "unmap Err(InvalidArgs)",
        "unmap Err(BadState)",
        "protect Ok(())",
        "protect Err(InvalidArgs)",
        "protect Err(NotFound)",
        "protect Err(AccessDenied)",
        "protect Err(BadState)",
        "destroy Ok(())",
        "destroy Err(BadState)",
        "destroy Err(NotSupported)",
    ] {
        assert!(seen.get(key).copied().unwrap_or(0) >= 5, "{key} seen {:?} times; all: {seen:?}", seen.get(key));
    }
}
