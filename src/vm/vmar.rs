//! The region manager of an address space: which parts of a VMAR's range
//! `[base, base + len)` are mapped, to which VMO, at which offset, with which
//! permissions. Also the pure option checks of `zx_vmar_map` and `zx_vmar_protect`.
//!
//! This is bookkeeping only. The caller (the kernel's VMAR object) changes page tables
//! and VMO mapping counts from what these functions return: every call that removes or
//! splits mappings says exactly which pieces it removed and how many were created.
//!
//! Invariants of [`Vmar`]:
//! 1. Mappings lie inside `[base, base + len)` and never overlap.
//! 2. Every mapping's base and length are page multiples and its length is nonzero.
//! 3. `vmo_offset + len` of every mapping does not overflow.
//! 4. `perms` ⊆ `max_perms` ⊆ `PERM_READ | PERM_WRITE | PERM_EXECUTE`.

use alloc::vec::Vec;

use crate::abi::{PAGE_SIZE, vm};
use crate::error::{ZxError, ZxResult};

/// `ZX_VM_ALLOW_FAULTS`. Accepted by `zx_vmar_map` and ignored: this kernel always
/// lets a mapping extend past the end of its VMO (ABI.md §4).
pub const VM_ALLOW_FAULTS: u32 = 1 << 12;

/// The option bits `zx_vmar_map` accepts below the alignment field (COMPACT is a
/// hint, ABI v2 §5).
const MAP_OPTION_BITS: u32 = vm::PERM_MASK
    | vm::COMPACT
    | vm::SPECIFIC
    | vm::SPECIFIC_OVERWRITE
    | vm::MAP_RANGE
    | vm::REQUIRE_NON_RESIZABLE
    | VM_ALLOW_FAULTS;

/// Smallest and largest log2 alignment `ZX_VM_ALIGN_*` may name (1 KiB to 4 GiB).
const MIN_ALIGN_LOG2: u32 = 10;
const MAX_ALIGN_LOG2: u32 = 32;

/// Without SPECIFIC, the kernel places a mapping at or above `base` plus this much,
/// leaving the low 4 GiB of user space to ELF segments loaded at fixed addresses. It
/// falls back to the whole VMAR when nothing fits up there.
pub const PLACEMENT_FLOOR_OFFSET: u64 = 0x1_0000_0000;

/// The decoded options of a `zx_vmar_map` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// The requested `PERM_*` bits.
    pub perms: u32,
    /// SPECIFIC or SPECIFIC_OVERWRITE: `vmar_offset` names the place.
    pub specific: bool,
    /// SPECIFIC_OVERWRITE: whatever is mapped there is unmapped first
    /// ([`Vmar::map_overwrite`]).
    pub overwrite: bool,
    /// MAP_RANGE: commit and map every page now instead of on fault.
    pub map_range: bool,
    /// REQUIRE_NON_RESIZABLE: a resizable VMO → `NotSupported` (step 7, the caller's).
    pub require_non_resizable: bool,
    /// The address alignment in bytes: a power of two, at least `PAGE_SIZE`.
    pub align: u64,
}

impl MapRequest {
    /// The `specific` argument of [`Vmar::map`] for `vmar_offset`: `Some(offset)` for a
    /// SPECIFIC request; `None` otherwise, where `vmar_offset` must be 0
    /// (else `InvalidArgs`, one of Zircon's step-8 checks).
    pub fn placement(&self, vmar_offset: u64) -> ZxResult<Option<u64>> {
        if self.specific {
            Ok(Some(vmar_offset))
        } else if vmar_offset == 0 {
            Ok(None)
        } else {
            Err(ZxError::InvalidArgs)
        }
    }
}

/// True for a protection Zircon can express: WRITE or EXECUTE require READ.
/// Only the `PERM_*` bits of `perms` are looked at.
pub fn is_valid_protection(perms: u32) -> bool {
    perms & vm::PERM_READ != 0 || perms & (vm::PERM_WRITE | vm::PERM_EXECUTE) == 0
}

/// Steps 3 to 5 of `zx_vmar_map`, which come before the rights checks of step 6:
/// 3. WRITE or EXECUTE without READ → `InvalidArgs`.
/// 4. MAP_RANGE with SPECIFIC_OVERWRITE → `InvalidArgs`.
/// 5. Any CAN_MAP_* bit (only the kernel sets those) → `InvalidArgs`.
///
/// Returns the requested `PERM_*` bits, for step 6.
pub fn check_map_protection(options: u32) -> ZxResult<u32> {
    // 3.
    if !is_valid_protection(options) {
        return Err(ZxError::InvalidArgs);
    }
    // 4.
    if options & vm::MAP_RANGE != 0 && options & vm::SPECIFIC_OVERWRITE != 0 {
        return Err(ZxError::InvalidArgs);
    }
    // 5.
    if options & vm::CAN_MAP_MASK != 0 {
        return Err(ZxError::InvalidArgs);
    }
    Ok(options & vm::PERM_MASK)
}

/// Every pure option check of `zx_vmar_map`: steps 3 to 5
/// ([`check_map_protection`]), then unknown bits and the alignment field, all
/// `InvalidArgs`.
///
/// Order note: in Zircon, unknown bits and a bad alignment are found after steps 6 and
/// 7 (rights, REQUIRE_NON_RESIZABLE), when the flags are split. A caller that wants
/// that order exactly runs `check_map_protection` before the rights checks and this
/// function after them; calling this one alone before step 6 differs only when a call
/// is wrong in two ways at once.
pub fn validate_map_options(options: u32) -> ZxResult<MapRequest> {
    let perms = check_map_protection(options)?;
    if options & !vm::ALIGN_MASK & !MAP_OPTION_BITS != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let align_log2 = (options & vm::ALIGN_MASK) >> vm::ALIGN_SHIFT;
    let align = match align_log2 {
        0 => PAGE_SIZE,
        MIN_ALIGN_LOG2..=MAX_ALIGN_LOG2 => (1u64 << align_log2).max(PAGE_SIZE),
        _ => return Err(ZxError::InvalidArgs),
    };
    let overwrite = options & vm::SPECIFIC_OVERWRITE != 0;
    Ok(MapRequest {
        perms,
        specific: overwrite || options & vm::SPECIFIC != 0,
        overwrite,
        map_range: options & vm::MAP_RANGE != 0,
        require_non_resizable: options & vm::REQUIRE_NON_RESIZABLE != 0,
        align,
    })
}

/// The option checks of `zx_vmar_protect` (its step 2, after the rights check):
/// any bit but `PERM_*` or an invalid protection → `InvalidArgs`. Returns the perms.
pub fn validate_protect_options(options: u32) -> ZxResult<u32> {
    if options & !vm::PERM_MASK != 0 || !is_valid_protection(options) {
        return Err(ZxError::InvalidArgs);
    }
    Ok(options)
}

/// The VMO-range checks of `zx_vmar_map` step 8, returning the length rounded up to
/// whole pages:
/// 1. `vmo_offset` not page-aligned → `InvalidArgs`.
/// 2. `len` rounds up to 0 (it was 0, or rounding overflowed) → `InvalidArgs`.
/// 3. `vmo_offset + len` overflows → `InvalidArgs`.
pub fn round_map_len(vmo_offset: u64, len: u64) -> ZxResult<u64> {
    // 1.
    if !is_page_aligned(vmo_offset) {
        return Err(ZxError::InvalidArgs);
    }
    // 2.
    let len = round_up_to_page(len).filter(|&l| l != 0).ok_or(ZxError::InvalidArgs)?;
    // 3.
    vmo_offset.checked_add(len).ok_or(ZxError::InvalidArgs)?;
    Ok(len)
}

fn is_page_aligned(value: u64) -> bool {
    value.is_multiple_of(PAGE_SIZE)
}

/// `value` rounded up to a page multiple, `None` on overflow.
fn round_up_to_page(value: u64) -> Option<u64> {
    align_up(value, PAGE_SIZE)
}

/// `value` rounded up to `align` (a power of two), `None` on overflow.
fn align_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? & !(align - 1))
}

/// What a new mapping shows, and the most it may ever allow: `len` bytes of `vmo` from
/// `vmo_offset`, with `max_perms` the `PERM_*` bits both handles allowed at map time
/// ([`crate::object::rights::perms_allowed_by`]). The map calls take one, with the
/// placement and the `PERM_*` bits to grant now beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSource<V> {
    /// Length in bytes (already rounded by [`round_map_len`]).
    pub len: u64,
    /// Offset in the VMO of the mapping's first byte.
    pub vmo_offset: u64,
    /// The VMO.
    pub vmo: V,
    /// `PERM_*` bits `protect` may grant later.
    pub max_perms: u32,
}

/// One mapping: `[base, base + len)` shows `[vmo_offset, vmo_offset + len)` of `vmo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping<V> {
    /// First virtual address.
    pub base: u64,
    /// Length in bytes, a nonzero page multiple.
    pub len: u64,
    /// The VMO (in the kernel, a cheap copyable id or index).
    pub vmo: V,
    /// Offset in the VMO of the byte at `base`.
    pub vmo_offset: u64,
    /// `PERM_*` bits in force now (they fit in 16 bits, invariant 4). The two sets are
    /// 16-bit so that a `Mapping` of the kernel's `VmoId` is 32 bytes: the compiler moves
    /// a value of up to 32 bytes with a few loads and stores on this strict-align
    /// target and calls `memcpy` for a larger one, and mappings are moved on every map
    /// and unmap (sorted insert, range removal, the unmapped list). Use [`Mapping::perms`]
    /// and [`Mapping::max_perms`] to read them as the `u32` of the ABI.
    pub perm_bits: u16,
    /// `PERM_*` bits that `protect` may grant later (Zircon's CAN_MAP_* on the mapping:
    /// what both the VMO and the VMAR handle allowed at map time).
    pub max_perm_bits: u16,
}

// The size the `perm_bits` note above relies on (the kernel's `VmoId` is a `u32`).
const _: () = assert!(core::mem::size_of::<Mapping<u32>>() == 32);

impl<V: Copy> Mapping<V> {
    /// The mapping of `source` at `base` with `perms` in force; `perms` and the source's
    /// `max_perms` are `PERM_*` sets (checked by the caller, invariant 4), so they fit
    /// the 16-bit fields.
    pub fn new(base: u64, perms: u32, source: MapSource<V>) -> Self {
        let MapSource { len, vmo, vmo_offset, max_perms } = source;
        debug_assert!(perms | max_perms <= u32::from(u16::MAX), "PERM_* sets are 16-bit");
        Mapping { base, len, vmo, vmo_offset, perm_bits: perms as u16, max_perm_bits: max_perms as u16 }
    }

    /// `PERM_*` bits in force now.
    pub fn perms(&self) -> u32 {
        u32::from(self.perm_bits)
    }

    /// `PERM_*` bits that `protect` may grant later.
    pub fn max_perms(&self) -> u32 {
        u32::from(self.max_perm_bits)
    }

    /// One past the last address.
    pub fn end(&self) -> u64 {
        // Cannot saturate for a mapping inside a VMAR (invariant 1).
        self.base.saturating_add(self.len)
    }

    /// True when `addr` is inside the mapping.
    pub fn contains(&self, addr: u64) -> bool {
        self.base <= addr && addr < self.end()
    }

    /// The part `[from, to)` of this mapping, with the VMO offset moved to match.
    /// The caller guarantees `base <= from < to <= end`.
    fn part(&self, from: u64, to: u64) -> Mapping<V> {
        Mapping {
            base: from,
            len: to - from,
            // Cannot overflow: within [vmo_offset, vmo_offset + len) (invariant 3).
            vmo_offset: self.vmo_offset + (from - self.base),
            ..*self
        }
    }
}

/// What [`Vmar::unmap`] took out of one mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unmapped<V> {
    /// The removed part, with its own base, length and VMO offset: exactly the pages to
    /// take out of the page tables.
    pub mapping: Mapping<V>,
    /// How many pieces of the original mapping are still mapped: 0 (all of it was
    /// removed), 1 (head or tail cut off) or 2 (a hole punched in the middle).
    pub pieces_left: usize,
}

impl<V> Unmapped<V> {
    /// The change in the VMO's number of mappings: -1, 0 or +1.
    pub fn mapping_count_delta(&self) -> isize {
        self.pieces_left as isize - 1
    }
}

/// What [`Vmar::protect`] changed in one mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protected<V> {
    /// The part that now has the new permissions (as stored in the VMAR).
    pub mapping: Mapping<V>,
    /// How many pieces the original mapping is now: 1 (changed whole), 2 (split at one
    /// edge of the range) or 3 (the range was inside it).
    pub pieces: usize,
}

impl<V> Protected<V> {
    /// The change in the VMO's number of mappings: 0, +1 or +2.
    pub fn mapping_count_delta(&self) -> isize {
        self.pieces as isize - 1
    }
}

/// What [`Vmar::protect`] did: how many mappings changed, and the (at most two) that
/// were split at an edge of the range, which the caller counts as new mappings of their
/// VMOs. Every mapping changed lies inside the range, so the caller clears the range's
/// page-table entries once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtectOutcome<V> {
    /// Mappings (or parts) whose permissions changed.
    pub changed: usize,
    /// The changed mappings that were split, in no particular order.
    pub splits: [Option<Protected<V>>; 2],
}

/// The mappings of one VMAR over `[base, base + len)`. `V` names a VMO.
///
/// The mappings are a vector sorted by address: lookups are binary searches, and every
/// change but an insertion happens in place, so unmapping never allocates. An
/// insertion (a new mapping, or a hole punched into one) reserves its room first, so
/// running out of memory is `NoMemory` with nothing changed.
#[derive(Clone, Debug)]
pub struct Vmar<V> {
    base: u64,
    len: u64,
    /// `mappings[..live]`: the mappings, sorted by base. `mappings[live..]`: mappings
    /// that [`unmap`](Self::unmap) removed whole and the caller has not taken yet.
    mappings: Vec<Mapping<V>>,
    live: usize,
    /// Parts of mappings that the last unmap cut off, not taken yet.
    cuts: [Option<Unmapped<V>>; 2],
    /// The index [`find_hinted`](Self::find_hinted) found last (checked before use).
    hint: usize,
}

impl<V: Copy + Eq> Vmar<V> {
    /// An empty VMAR over `[base, base + len)`. Both are page multiples (kernel
    /// constants, such as `USER_BASE` and `USER_END - USER_BASE`). A `len` that would
    /// run past 2^64 is cut short so the end stays representable.
    pub fn new(base: u64, len: u64) -> Self {
        debug_assert!(is_page_aligned(base) && is_page_aligned(len));
        Vmar {
            base,
            len: len.min((u64::MAX - base) & !(PAGE_SIZE - 1)),
            mappings: Vec::new(),
            live: 0,
            cuts: [None, None],
            hint: 0,
        }
    }

    /// First address of the VMAR.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Size of the VMAR in bytes (not the number of mappings: see
    /// [`mapping_count`](Self::mapping_count)).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// One past the last address of the VMAR.
    pub fn end(&self) -> u64 {
        self.base + self.len
    }

    /// Number of mappings.
    pub fn mapping_count(&self) -> usize {
        self.live
    }

    /// The mappings, in address order.
    fn live(&self) -> &[Mapping<V>] {
        &self.mappings[..self.live]
    }

    /// Room for `extra` more mappings, or `NoMemory`.
    fn reserve(&mut self, extra: usize) -> ZxResult {
        self.mappings.try_reserve(extra).map_err(|_| ZxError::NoMemory)
    }

    /// Inserts `mapping` in address order (room reserved by the caller).
    fn insert_sorted(&mut self, mapping: Mapping<V>) {
        let at = self.live().partition_point(|m| m.base < mapping.base);
        self.insert_at(at, mapping);
    }

    /// Inserts `mapping` at index `at` of the live mappings, which is its place in
    /// address order (room reserved by the caller).
    fn insert_at(&mut self, at: usize, mapping: Mapping<V>) {
        debug_assert_eq!(at, self.live().partition_point(|m| m.base < mapping.base));
        // Within the room reserved: no allocation. Then the new mapping moves down to
        // `at` ([`shift_right_into`], not `Vec::insert`'s `memmove` call).
        self.mappings.push(mapping);
        shift_right_into(&mut self.mappings[at..], mapping);
        self.live += 1;
    }

    /// Maps `source` with `perms` in force and returns the address.
    ///
    /// `specific` is the offset from the VMAR base for a SPECIFIC mapping (see
    /// [`MapRequest::placement`]); `align` is [`MapRequest::align`].
    ///
    /// Checks, in order:
    /// 1. `len` zero or not a page multiple, `align` not a power of two, `vmo_offset`
    ///    unaligned or `vmo_offset + len` overflowing, invalid `perms` → `InvalidArgs`.
    /// 2. `perms` beyond `max_perms` → `AccessDenied`.
    /// 3. SPECIFIC: offset unaligned (to a page or to `align`), or the range not wholly
    ///    inside the VMAR (overflow-safe) → `InvalidArgs`; overlap → `NoMemory`.
    /// 4. Otherwise: `len` larger than the VMAR → `InvalidArgs`; the lowest free
    ///    `align`-aligned address at or above `base + PLACEMENT_FLOOR_OFFSET`, else the
    ///    lowest anywhere, else `NoMemory`.
    /// 5. No heap for one more mapping → `NoMemory`, nothing changed.
    pub fn map(&mut self, specific: Option<u64>, align: u64, perms: u32, source: MapSource<V>) -> ZxResult<u64> {
        // 1, 2.
        let align = check_new_mapping(align, perms, &source)?;
        let len = source.len;
        let (base, at) = match specific {
            // 3.
            Some(offset) => {
                let base = self.specific_base(offset, len, align)?;
                (base, self.free_at(base, len).ok_or(ZxError::NoMemory)?)
            }
            // 4.
            None => {
                let base = self.find_free(len, align)?;
                (base, self.live().partition_point(|m| m.base < base))
            }
        };
        // 5.
        self.reserve(1)?;
        self.insert_at(at, Mapping::new(base, perms, source));
        Ok(base)
    }

    /// A SPECIFIC [`map`](Self::map) at address `base` for a caller that has made its
    /// checks 1 to 3 itself, all but the overlap (the region tree: its step 1 is check 1
    /// and 2 here, and its regions, which it checks `base` and `len` against, lie inside
    /// the root, this VMAR's range). Then: overlap → `NoMemory`; 5. `free_at`: the
    /// caller found `[base, base + len)` free of mappings itself, and `free_at` is the
    /// number of mappings below it, its index (both a debug assertion).
    pub fn map_at(
        &mut self,
        base: u64,
        free_at: Option<usize>,
        align: u64,
        perms: u32,
        source: MapSource<V>,
    ) -> ZxResult<u64> {
        let len = source.len;
        debug_assert!(
            check_new_mapping(align, perms, &source)
                .is_ok_and(|align| base >= self.base && self.specific_base(base - self.base, len, align) == Ok(base)),
            "Vmar::map_at: unchecked arguments"
        );
        let at = match free_at {
            Some(at) => {
                debug_assert_eq!(self.free_at(base, len), Some(at), "Vmar::map_at: not the free range's index");
                at
            }
            None => self.free_at(base, len).ok_or(ZxError::NoMemory)?,
        };
        self.reserve(1)?;
        self.insert_at(at, Mapping::new(base, perms, source));
        Ok(base)
    }

    /// SPECIFIC_OVERWRITE: like a SPECIFIC [`map`](Self::map) at `vmar_offset`, but
    /// whatever was mapped in the range is unmapped first instead of giving `NoMemory`;
    /// the caller takes the removed parts with [`take_unmapped`](Self::take_unmapped).
    /// Every argument is checked, and room reserved, before anything is removed.
    pub fn map_overwrite(&mut self, vmar_offset: u64, align: u64, perms: u32, source: MapSource<V>) -> ZxResult<u64> {
        let align = check_new_mapping(align, perms, &source)?;
        let len = source.len;
        let base = self.specific_base(vmar_offset, len, align)?;
        // The new mapping, and the tail of one it might be punched into.
        self.reserve(2)?;
        self.remove_range(base, base + len)?;
        self.insert_sorted(Mapping::new(base, perms, source));
        Ok(base)
    }

    /// `zx_vmar_unmap`: removes every mapped page in `[addr, addr + len)` and returns
    /// how many pieces it removed; the caller takes each with
    /// [`take_unmapped`](Self::take_unmapped) (one per mapping touched).
    ///
    /// 1. `addr` not page-aligned, or `len` rounding up to 0 → `InvalidArgs`.
    /// 2. The range not wholly inside the VMAR (or overflowing) → `InvalidArgs`.
    /// 3. Mappings partly inside the range are cut; nothing mapped → `Ok(0)`.
    /// 4. Punching a hole into one mapping needs room for one more → `NoMemory` with
    ///    nothing changed when there is none. Nothing else allocates: removing whole
    ///    mappings and cutting heads or tails happen in place.
    pub fn unmap(&mut self, addr: u64, len: u64) -> ZxResult<usize> {
        // 1, 2.
        let (start, end) = self.check_range(addr, len)?;
        // 3, 4.
        self.remove_range(start, end)
    }

    /// [`unmap`](Self::unmap) of a range its caller has checked the way `unmap` would
    /// (page-aligned, not empty, inside the VMAR): the region tree, whose regions all
    /// lie inside the root, which is this VMAR's range.
    pub fn unmap_range(&mut self, start: u64, end: u64) -> ZxResult<usize> {
        debug_assert_eq!(self.check_range(start, end.wrapping_sub(start)), Ok((start, end)));
        self.remove_range(start, end)
    }

    /// One piece the last [`unmap`](Self::unmap) or
    /// [`map_overwrite`](Self::map_overwrite) removed, until there are none. Never
    /// allocates.
    pub fn take_unmapped(&mut self) -> Option<Unmapped<V>> {
        // Tested before taken: `take` of an empty place would still copy its 40 bytes
        // out and write them back.
        for cut in &mut self.cuts {
            if cut.is_some() {
                return cut.take();
            }
        }
        if self.mappings.len() > self.live {
            return self.mappings.pop().map(|mapping| Unmapped { mapping, pieces_left: 0 });
        }
        None
    }

    /// `zx_vmar_protect` on the VMAR's side: gives every page in `[addr, addr + len)`
    /// the permissions `perms`.
    ///
    /// 1. `addr` not page-aligned, `len` rounding up to 0, the range not inside the
    ///    VMAR, or `perms` not a valid protection → `InvalidArgs`.
    /// 2. The mappings are walked in address order, as Zircon does, and the first
    ///    problem wins: a hole before a mapping → `NotFound`; `perms` beyond that
    ///    mapping's `max_perms` → `AccessDenied`; finally a hole at the end of the range
    ///    → `NotFound`. Nothing changes unless every check passes.
    /// 3. Mappings sticking out of the range are split at its edges (room for the new
    ///    pieces is reserved first: `NoMemory` with nothing changed); mappings that
    ///    already have `perms` are left alone (and not counted).
    pub fn protect(&mut self, addr: u64, len: u64, perms: u32) -> ZxResult<ProtectOutcome<V>> {
        // 1.
        let (start, end) = self.check_range(addr, len)?;
        if perms & !vm::PERM_MASK != 0 || !is_valid_protection(perms) {
            return Err(ZxError::InvalidArgs);
        }
        // 2.
        let (first, last) = self.overlapping_indices(start, end);
        let mut covered_to = start;
        let mut splits_needed = 0;
        for mapping in &self.mappings[first..last] {
            if mapping.base > covered_to {
                return Err(ZxError::NotFound);
            }
            if perms & !mapping.max_perms() != 0 {
                return Err(ZxError::AccessDenied);
            }
            covered_to = mapping.end();
            if mapping.perms() != perms {
                splits_needed += usize::from(mapping.base < start) + usize::from(mapping.end() > end);
            }
        }
        if covered_to < end {
            return Err(ZxError::NotFound);
        }
        // 3. Last to first, so inserting after index `i` never moves what is left.
        self.reserve(splits_needed)?;
        let mut outcome = ProtectOutcome { changed: 0, splits: [None, None] };
        for i in (first..last).rev() {
            let original = self.mappings[i];
            if original.perms() == perms {
                continue;
            }
            outcome.changed += 1;
            let cut_start = original.base.max(start);
            let cut_end = original.end().min(end);
            // `perms` passed the PERM_MASK check (step 1), so it fits.
            let inside = Mapping { perm_bits: perms as u16, ..original.part(cut_start, cut_end) };
            let mut pieces = 1;
            if cut_end < original.end() {
                self.mappings.insert(i + 1, original.part(cut_end, original.end()));
                self.live += 1;
                pieces += 1;
            }
            if original.base < cut_start {
                self.mappings[i] = original.part(original.base, cut_start);
                self.mappings.insert(i + 1, inside);
                self.live += 1;
                pieces += 1;
            } else {
                self.mappings[i] = inside;
            }
            if pieces > 1
                && let Some(slot) = outcome.splits.iter_mut().find(|slot| slot.is_none())
            {
                *slot = Some(Protected { mapping: inside, pieces });
            }
        }
        Ok(outcome)
    }

    /// The mapping containing `addr`, if any, trying the one the last call of this
    /// function found first (a fault usually lands in the mapping the previous one
    /// did). The remembered index is only a hint: whatever it names is checked to
    /// contain `addr`, so no change to the mappings needs to update it. O(log n).
    #[inline]
    pub fn find_hinted(&mut self, addr: u64) -> Option<&Mapping<V>> {
        let live = &self.mappings[..self.live];
        if let Some(mapping) = live.get(self.hint)
            && mapping.base <= addr
            && addr - mapping.base < mapping.len
        {
            return live.get(self.hint);
        }
        let after = live.partition_point(|mapping| mapping.base <= addr);
        let index = after.checked_sub(1).filter(|&i| live[i].contains(addr))?;
        self.hint = index;
        live.get(index)
    }

    /// The mapping containing `addr`, if any. O(log n).
    pub fn find(&self, addr: u64) -> Option<&Mapping<V>> {
        let live = self.live();
        let after = live.partition_point(|mapping| mapping.base <= addr);
        after.checked_sub(1).and_then(|i| live.get(i)).filter(|mapping| mapping.contains(addr))
    }

    /// Every mapping in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Mapping<V>> + '_ {
        self.live().iter()
    }

    /// The mappings that overlap `[start, end)`, in address order (none when
    /// `start >= end`). O(log n + k).
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Mapping<V>> + '_ {
        let (first, last) = if start < end { self.overlapping_indices(start, end) } else { (0, 0) };
        self.live()[first..last].iter()
    }

    /// The mappings that end after `start`, in address order: [`Self::overlapping`]
    /// with no upper end, for a caller that stops at the first mapping it does not need
    /// (one binary search instead of two).
    pub fn ending_after(&self, start: u64) -> impl Iterator<Item = &Mapping<V>> + '_ {
        self.ending_after_indexed(start).1.iter()
    }

    /// [`Self::ending_after`] as a slice, with the index of its first mapping among the
    /// live ones (the number of mappings that end at or before `start`).
    pub fn ending_after_indexed(&self, start: u64) -> (usize, &[Mapping<V>]) {
        let live = self.live();
        let first = live.partition_point(|mapping| mapping.end() <= start);
        (first, &live[first..])
    }

    /// The mappings of `vmo`, in address order.
    pub fn mappings_of(&self, vmo: V) -> impl Iterator<Item = &Mapping<V>> + '_ {
        self.live().iter().filter(move |mapping| mapping.vmo == vmo)
    }

    /// Removes every mapping and hands them over, for process teardown. Never
    /// allocates.
    pub fn drain(&mut self) -> alloc::vec::Drain<'_, Mapping<V>> {
        self.cuts = [None, None];
        self.mappings.truncate(self.live);
        self.live = 0;
        self.mappings.drain(..)
    }

    /// Removes every mapping (the caller has already released what they hold).
    pub fn clear(&mut self) {
        self.mappings.clear();
        self.live = 0;
        self.cuts = [None, None];
    }

    /// The address of a SPECIFIC mapping at `offset` from the VMAR base: the offset
    /// page-aligned, the range inside the VMAR, the address `align`-aligned, else
    /// `InvalidArgs`.
    fn specific_base(&self, offset: u64, len: u64, align: u64) -> ZxResult<u64> {
        if !is_page_aligned(offset) || offset >= self.len || len > self.len - offset {
            return Err(ZxError::InvalidArgs);
        }
        // offset < self.len, so this stays below end().
        let base = self.base + offset;
        if !base.is_multiple_of(align) {
            return Err(ZxError::InvalidArgs);
        }
        Ok(base)
    }

    /// `[addr, addr + round_up(len))` checked as `unmap` and `protect` need it.
    fn check_range(&self, addr: u64, len: u64) -> ZxResult<(u64, u64)> {
        if !is_page_aligned(addr) {
            return Err(ZxError::InvalidArgs);
        }
        let len = round_up_to_page(len).filter(|&l| l != 0).ok_or(ZxError::InvalidArgs)?;
        let end = addr.checked_add(len).ok_or(ZxError::InvalidArgs)?;
        if addr < self.base || end > self.end() {
            return Err(ZxError::InvalidArgs);
        }
        Ok((addr, end))
    }

    /// When nothing is mapped in `[start, start + len)`, the index where a mapping of it
    /// goes in address order; `None` otherwise. O(log n): only the last mapping starting
    /// before the end can reach into the range. When it does not, it starts before
    /// `start`, and so does every mapping before it: the mappings that start before the
    /// end are exactly those that start before `start`, and their count is the index.
    fn free_at(&self, start: u64, len: u64) -> Option<usize> {
        let end = start + len;
        let live = self.live();
        let before_end = live.partition_point(|mapping| mapping.base < end);
        match before_end.checked_sub(1).and_then(|i| live.get(i)) {
            Some(mapping) if mapping.end() > start => None,
            _ => Some(before_end),
        }
    }

    /// The place for a non-SPECIFIC mapping (step 4 of [`map`](Self::map)).
    fn find_free(&self, len: u64, align: u64) -> ZxResult<u64> {
        if len > self.len {
            return Err(ZxError::InvalidArgs);
        }
        let end = self.end();
        let floor = self.base.saturating_add(PLACEMENT_FLOOR_OFFSET).min(end);
        self.find_gap(floor, end, len, align)
            .or_else(|| self.find_gap(self.base, end, len, align))
            .ok_or(ZxError::NoMemory)
    }

    /// The lowest `align`-aligned address `a` with `[a, a + len)` free and inside
    /// `[low, high)`.
    fn find_gap(&self, low: u64, high: u64, len: u64, align: u64) -> Option<u64> {
        let mut candidate = align_up(low, align)?;
        let live = self.live();
        let from = live.partition_point(|mapping| mapping.base < low);
        // A mapping starting below `low` may still cover it.
        if let Some(below) = from.checked_sub(1).and_then(|i| live.get(i))
            && below.end() > candidate
        {
            candidate = align_up(below.end(), align)?;
        }
        for mapping in &live[from..] {
            let candidate_end = candidate.checked_add(len)?;
            if candidate_end > high {
                return None;
            }
            if candidate_end <= mapping.base {
                return Some(candidate);
            }
            // Alignment may already have carried the candidate past this mapping.
            if mapping.end() > candidate {
                candidate = align_up(mapping.end(), align)?;
            }
        }
        let candidate_end = candidate.checked_add(len)?;
        (candidate_end <= high).then_some(candidate)
    }

    /// The indices `[first, last)` of the mappings that overlap `[start, end)`.
    fn overlapping_indices(&self, start: u64, end: u64) -> (usize, usize) {
        let live = self.live();
        let first = live.partition_point(|mapping| mapping.end() <= start);
        // The end by walking on from `first` rather than a second binary search: every
        // caller goes over the mappings in between anyway, and an unmap usually finds
        // one.
        let mut last = first;
        while live.get(last).is_some_and(|mapping| mapping.base < end) {
            last += 1;
        }
        (first, last)
    }

    /// Takes `[start, end)` (checked, `start < end`) out of every mapping, leaving the
    /// parts outside it; the removed pieces wait for [`take_unmapped`](Self::take_unmapped).
    /// Only a hole punched into one mapping needs room (reserved first); everything else
    /// happens in place. O(mappings after `start`).
    #[inline(never)]
    fn remove_range(&mut self, start: u64, end: u64) -> ZxResult<usize> {
        // Pieces a caller did not take are dropped (a caller bug: debug builds stop).
        debug_assert!(self.take_unmapped().is_none(), "Vmar: removed pieces were not taken");
        self.cuts = [None, None];
        self.mappings.truncate(self.live);
        let (first, last) = self.overlapping_indices(start, end);
        if first == last {
            return Ok(0);
        }
        // Every mapping in the range lies wholly inside it (an unmap of what was
        // mapped, the common case): no piece to cut, nothing to reserve.
        if self.mappings[first].base >= start && self.mappings[last - 1].end() <= end {
            self.remove_whole(first, last - first);
            return Ok(last - first);
        }
        self.cut_range(start, end, first, last)
    }

    /// [`Self::remove_range`] when a mapping sticks out of the range `[start, end)`:
    /// the parts outside stay, the parts inside are cut off. Out of line, so that the
    /// common case saves no registers for it.
    #[inline(never)]
    fn cut_range(&mut self, start: u64, end: u64, mut first: usize, mut last: usize) -> ZxResult<usize> {
        let mut removed = 0;
        let head = self.mappings[first];
        if head.base < start && head.end() > end {
            // A hole in the middle of one mapping: its tail becomes a new mapping.
            self.reserve(1)?;
            self.mappings[first] = head.part(head.base, start);
            self.mappings.insert(first + 1, head.part(end, head.end()));
            self.live += 1;
            self.cuts[0] = Some(Unmapped { mapping: head.part(start, end), pieces_left: 2 });
            return Ok(1);
        }
        if head.base < start {
            self.mappings[first] = head.part(head.base, start);
            self.cuts[0] = Some(Unmapped { mapping: head.part(start, head.end()), pieces_left: 1 });
            removed += 1;
            first += 1;
        }
        if first < last {
            let tail = self.mappings[last - 1];
            if tail.end() > end {
                self.mappings[last - 1] = tail.part(end, tail.end());
                self.cuts[1] = Some(Unmapped { mapping: tail.part(tail.base, end), pieces_left: 1 });
                removed += 1;
                last -= 1;
            }
        }
        self.remove_whole(first, last - first);
        Ok(removed + last - first)
    }

    /// Moves the `whole` live mappings from index `first` on (each wholly inside the
    /// range being removed) behind the live ones, in one pass, for `take_unmapped`.
    #[inline(always)]
    fn remove_whole(&mut self, first: usize, whole: usize) {
        if whole == 1 {
            // One mapping, the common unmap: moved behind the others one step at a
            // time (`rotate_left` goes through a stack buffer with two `memcpy` calls
            // and a `memmove` call).
            move_to_end(&mut self.mappings[first..]);
        } else if whole > 1 {
            self.mappings[first..].rotate_left(whole);
        }
        self.live -= whole;
    }
}

/// Makes `slice` `[value, slice[0], .., slice[n - 2]]`: every element one place to the
/// right (the last one is dropped: the caller pushed a copy of `value` there), then
/// `value` first. `Vec::insert` without its `memmove` call: a mapping is 32 bytes, which
/// this target moves with two load pairs and two store pairs, and a VMAR has few
/// mappings above the new one.
fn shift_right_into<T: Copy>(slice: &mut [T], value: T) {
    let mut i = slice.len();
    while i > 1 {
        i -= 1;
        slice[i] = slice[i - 1];
    }
    if let Some(first) = slice.first_mut() {
        *first = value;
    }
}

/// Makes `slice` `[slice[1], .., slice[n - 1], slice[0]]`: `rotate_left(1)` one element
/// at a time (see [`shift_right_into`]).
fn move_to_end<T: Copy>(slice: &mut [T]) {
    let Some(&first) = slice.first() else { return };
    let last = slice.len() - 1;
    for i in 0..last {
        slice[i] = slice[i + 1];
    }
    slice[last] = first;
}

/// Step 1 and 2 of [`Vmar::map`]: the checks that do not depend on the VMAR.
/// Returns the effective alignment (at least a page).
pub fn check_new_mapping<V>(align: u64, perms: u32, source: &MapSource<V>) -> ZxResult<u64> {
    let MapSource { len, vmo_offset, max_perms, .. } = *source;
    if len == 0 || !is_page_aligned(len) || !align.is_power_of_two() {
        return Err(ZxError::InvalidArgs);
    }
    if !is_page_aligned(vmo_offset) || vmo_offset.checked_add(len).is_none() {
        return Err(ZxError::InvalidArgs);
    }
    if perms & !vm::PERM_MASK != 0 || max_perms & !vm::PERM_MASK != 0 {
        return Err(ZxError::InvalidArgs);
    }
    if !is_valid_protection(perms) {
        return Err(ZxError::InvalidArgs);
    }
    if perms & !max_perms != 0 {
        return Err(ZxError::AccessDenied);
    }
    Ok(align.max(PAGE_SIZE))
}

/// For tests (here and the region tree's): `len` bytes of `vmo` from `vmo_offset`,
/// allowing at most `max_perms`.
#[cfg(test)]
pub(crate) fn source<V>(len: u64, vmo: V, vmo_offset: u64, max_perms: u32) -> MapSource<V> {
    MapSource { len, vmo, vmo_offset, max_perms }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{USER_BASE, USER_END};
    use std::vec;

    const P: u64 = PAGE_SIZE;
    const R: u32 = vm::PERM_READ;

    #[test]
    fn element_moves_match_insert_and_rotate() {
        for n in 0..6usize {
            let base: std::vec::Vec<u32> = (0..n as u32).collect();
            for at in 0..=n {
                let mut want = base.clone();
                want.insert(at, 99);
                let mut got = base.clone();
                got.push(99);
                shift_right_into(&mut got[at..], 99);
                assert_eq!(got, want, "insert at {at} of {n}");
            }
            for first in 0..n {
                let mut want = base.clone();
                want[first..].rotate_left(1);
                let mut got = base.clone();
                move_to_end(&mut got[first..]);
                assert_eq!(got, want, "rotate from {first} of {n}");
            }
        }
        move_to_end::<u32>(&mut []);
        shift_right_into::<u32>(&mut [], 1);
    }
    const RW: u32 = vm::PERM_READ | vm::PERM_WRITE;
    const RWX: u32 = vm::PERM_MASK;
    const FLOOR: u64 = USER_BASE + PLACEMENT_FLOOR_OFFSET;

    fn user_vmar() -> Vmar<u32> {
        Vmar::new(USER_BASE, USER_END - USER_BASE)
    }

    /// Maps `pages` pages of VMO `vmo` at `addr` (absolute), read-write, max RWX.
    fn map_at(vmar: &mut Vmar<u32>, addr: u64, pages: u64, vmo: u32) -> u64 {
        vmar.map(Some(addr - vmar.base()), P, RW, source(pages * P, vmo, 0, RWX)).unwrap()
    }

    /// `unmap`, then every piece it removed, in address order.
    fn unmap_all<V: Copy + Eq>(vmar: &mut Vmar<V>, addr: u64, len: u64) -> ZxResult<Vec<Unmapped<V>>> {
        let count = vmar.unmap(addr, len)?;
        let mut pieces: Vec<Unmapped<V>> = core::iter::from_fn(|| vmar.take_unmapped()).collect();
        assert_eq!(pieces.len(), count);
        pieces.sort_by_key(|piece| piece.mapping.base);
        Ok(pieces)
    }

    fn layout(vmar: &Vmar<u32>) -> Vec<(u64, u64, u32, u64, u32)> {
        vmar.iter().map(|m| (m.base, m.len, m.vmo, m.vmo_offset, m.perms())).collect()
    }

    // ---- option decoding ----

    #[test]
    fn map_options_decode() {
        let req = validate_map_options(RW | vm::SPECIFIC | (12 << vm::ALIGN_SHIFT)).unwrap();
        assert_eq!(
            req,
            MapRequest {
                perms: RW,
                specific: true,
                overwrite: false,
                map_range: false,
                require_non_resizable: false,
                align: P,
            }
        );
        let req =
            validate_map_options(vm::SPECIFIC_OVERWRITE | vm::REQUIRE_NON_RESIZABLE | (32 << vm::ALIGN_SHIFT)).unwrap();
        assert!(req.specific && req.overwrite && req.require_non_resizable);
        assert_eq!(req.align, 1 << 32);
        assert_eq!(req.perms, 0);
        // 1 KiB alignment is still a page.
        assert_eq!(validate_map_options(10 << vm::ALIGN_SHIFT).unwrap().align, P);
        assert_eq!(validate_map_options(21 << vm::ALIGN_SHIFT).unwrap().align, 1 << 21);
        let req = validate_map_options(R | vm::MAP_RANGE | VM_ALLOW_FAULTS).unwrap();
        assert!(req.map_range && !req.specific);
        // (v2) COMPACT is a hint: accepted, changes nothing.
        assert_eq!(validate_map_options(R | vm::COMPACT), validate_map_options(R));
    }

    #[test]
    fn map_options_reject() {
        for bad in [
            vm::PERM_WRITE,                             // 3: W without R
            vm::PERM_EXECUTE,                           // 3: X without R
            R | vm::MAP_RANGE | vm::SPECIFIC_OVERWRITE, // 4
            R | vm::CAN_MAP_READ,                       // 5
            R | vm::CAN_MAP_SPECIFIC,                   // 5
            R | (1 << 13),                              // unknown here
            R | (1 << 23),                              // unknown
            9 << vm::ALIGN_SHIFT,                       // alignment too small
            33 << vm::ALIGN_SHIFT,                      // too large
            0xff << vm::ALIGN_SHIFT,
        ] {
            assert_eq!(validate_map_options(bad), Err(ZxError::InvalidArgs), "{bad:#x}");
        }
        assert_eq!(check_map_protection(vm::PERM_WRITE), Err(ZxError::InvalidArgs));
        // Steps 3-5 alone let unknown bits through, for the caller's step 6 first.
        assert_eq!(check_map_protection(RW | (1 << 23)), Ok(RW));
        assert_eq!(check_map_protection(0), Ok(0));
    }

    #[test]
    fn placement_needs_zero_offset_without_specific() {
        let plain = validate_map_options(R).unwrap();
        assert_eq!(plain.placement(0), Ok(None));
        assert_eq!(plain.placement(P), Err(ZxError::InvalidArgs));
        let specific = validate_map_options(R | vm::SPECIFIC).unwrap();
        assert_eq!(specific.placement(P), Ok(Some(P)));
    }

    #[test]
    fn protect_options() {
        assert_eq!(validate_protect_options(0), Ok(0));
        assert_eq!(validate_protect_options(RWX), Ok(RWX));
        assert_eq!(validate_protect_options(vm::PERM_WRITE), Err(ZxError::InvalidArgs));
        assert_eq!(validate_protect_options(R | vm::SPECIFIC), Err(ZxError::InvalidArgs));
    }

    #[test]
    fn map_len_rounding() {
        assert_eq!(round_map_len(0, 1), Ok(P));
        assert_eq!(round_map_len(P, 2 * P), Ok(2 * P));
        assert_eq!(round_map_len(1, P), Err(ZxError::InvalidArgs));
        assert_eq!(round_map_len(0, 0), Err(ZxError::InvalidArgs));
        assert_eq!(round_map_len(0, u64::MAX), Err(ZxError::InvalidArgs));
        assert_eq!(round_map_len(0, u64::MAX - P + 2), Err(ZxError::InvalidArgs));
        assert_eq!(round_map_len(u64::MAX - P + 1, P), Err(ZxError::InvalidArgs));
        assert_eq!(round_map_len(u64::MAX - 2 * P + 1, P), Ok(P));
    }

    // ---- map ----

    #[test]
    fn non_specific_placement_starts_above_four_gib() {
        let mut vmar = user_vmar();
        let a = vmar.map(None, P, RW, source(2 * P, 1, 0, RWX)).unwrap();
        assert_eq!(a, FLOOR);
        let b = vmar.map(None, P, R, source(P, 2, 0, RWX)).unwrap();
        assert_eq!(b, FLOOR + 2 * P);
        // A hole left by an unmap is the lowest free place again.
        unmap_all(&mut vmar, a, P).unwrap();
        assert_eq!(vmar.map(None, P, R, source(P, 3, 0, RWX)), Ok(a));
        // Too big for the hole: goes after b.
        assert_eq!(vmar.map(None, P, R, source(2 * P, 4, 0, RWX)), Ok(FLOOR + 3 * P));
        // Low specific mappings do not move the floor.
        map_at(&mut vmar, USER_BASE, 1, 5);
        assert_eq!(vmar.find(USER_BASE).unwrap().vmo, 5);
    }

    #[test]
    fn placement_respects_alignment() {
        let mut vmar = user_vmar();
        map_at(&mut vmar, FLOOR, 1, 1);
        let align = 1 << 21;
        let a = vmar.map(None, align, R, source(P, 2, 0, RWX)).unwrap();
        assert_eq!(a % align, 0);
        assert_eq!(a, align_up(FLOOR + P, align).unwrap());
        let big = vmar.map(None, 1 << 32, R, source(P, 3, 0, RWX)).unwrap();
        assert_eq!(big, 2 << 32);
        // Specific mappings must meet the alignment too.
        assert_eq!(vmar.map(Some(P), 1 << 21, R, source(P, 4, 0, RWX)), Err(ZxError::InvalidArgs));
        // Alignment is of the absolute address: offset 0x1F_0000 gives 0x20_0000.
        let offset = (1 << 21) - USER_BASE;
        assert_eq!(vmar.map(Some(offset), 1 << 21, R, source(P, 4, 0, RWX)), Ok(1 << 21));
        assert_eq!(vmar.map(None, 3 * P, R, source(P, 5, 0, RWX)), Err(ZxError::InvalidArgs));
    }

    #[test]
    fn placement_falls_back_below_the_floor_and_runs_out() {
        // A VMAR of 8 pages: the floor is past its end, so the search starts at base.
        let mut small = Vmar::new(0x10_0000, 8 * P);
        assert_eq!(small.map(None, P, R, source(4 * P, 1u8, 0, R)), Ok(0x10_0000));
        assert_eq!(small.map(None, P, R, source(4 * P, 2, 0, R)), Ok(0x10_0000 + 4 * P));
        assert_eq!(small.map(None, P, R, source(P, 3, 0, R)), Err(ZxError::NoMemory));
        assert_eq!(small.map(None, P, R, source(9 * P, 3, 0, R)), Err(ZxError::InvalidArgs));

        // Above the floor full: fall back to the low part.
        let mut vmar = user_vmar();
        let high_len = vmar.end() - FLOOR;
        assert_eq!(vmar.map(None, P, R, source(high_len, 1, 0, R)), Ok(FLOOR));
        assert_eq!(vmar.map(None, P, R, source(P, 2, 0, R)), Ok(USER_BASE));
    }

    #[test]
    fn specific_overlap_is_no_memory() {
        let mut vmar = user_vmar();
        map_at(&mut vmar, 0x40_0000, 4, 1);
        for (addr, pages) in [(0x40_0000, 1), (0x40_0000 + 3 * P, 4), (0x40_0000 - P, 2), (0x40_0000 - 4 * P, 16)] {
            assert_eq!(
                vmar.map(Some(addr - USER_BASE), P, R, source(pages * P, 2, 0, R)),
                Err(ZxError::NoMemory),
                "{addr:#x}"
            );
        }
        // Touching ranges are fine on both sides.
        map_at(&mut vmar, 0x40_0000 - P, 1, 2);
        map_at(&mut vmar, 0x40_0000 + 4 * P, 1, 3);
        assert_eq!(vmar.mapping_count(), 3);
    }

    #[test]
    fn map_argument_checks() {
        let mut vmar = user_vmar();
        assert_eq!(vmar.map(None, P, R, source(0, 1, 0, R)), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.map(None, P, R, source(P + 1, 1, 0, R)), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.map(None, P, R, source(P, 1, 1, R)), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.map(None, P, R, source(2 * P, 1, u64::MAX - P + 1, R)), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.map(None, P, vm::PERM_WRITE, source(P, 1, 0, RWX)), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.map(None, P, RW, source(P, 1, 0, R)), Err(ZxError::AccessDenied));
        assert_eq!(vmar.map(Some(1), P, R, source(P, 1, 0, R)), Err(ZxError::InvalidArgs));
        // Permissions 0 are legal.
        assert!(vmar.map(None, P, 0, source(P, 1, 0, 0)).is_ok());
        assert_eq!(vmar.mapping_count(), 1);
    }

    #[test]
    fn specific_bounds_near_two_to_the_47() {
        let mut vmar = user_vmar();
        let last_page_offset = vmar.len() - P;
        assert_eq!(vmar.map(Some(last_page_offset), P, R, source(P, 1, 0, R)), Ok(USER_END - P));
        assert_eq!(vmar.find(USER_END - 1).unwrap().vmo, 1);
        assert!(vmar.find(USER_END).is_none());
        for (offset, len) in [
            (vmar.len(), P),           // starts at the end
            (last_page_offset, 2 * P), // runs past the end
            (!(P - 1), P),             // offset near 2^64
            (P, !(P - 1)),             // len near 2^64: offset + len wraps
            (vmar.len() - P, u64::MAX - P + 1),
        ] {
            assert_eq!(
                vmar.map(Some(offset), P, R, source(len, 2, 0, R)),
                Err(ZxError::InvalidArgs),
                "offset {offset:#x} len {len:#x}"
            );
        }
        // The whole VMAR at once fits exactly when empty.
        let mut empty = user_vmar();
        let len = empty.len();
        assert_eq!(empty.map(Some(0), P, R, source(len, 1, 0, R)), Ok(USER_BASE));
        assert_eq!(empty.find(USER_BASE + len - 1).unwrap().len, len);
    }

    #[test]
    fn vmar_at_top_of_address_space() {
        // End exactly at 2^64 is cut to stay representable.
        let top = u64::MAX - 16 * P + 1;
        let mut vmar: Vmar<u8> = Vmar::new(top, 16 * P);
        assert_eq!(vmar.end(), u64::MAX - P + 1);
        assert_eq!(vmar.map(None, P, R, source(15 * P, 1, 0, R)), Ok(top));
        assert_eq!(vmar.map(None, P, R, source(P, 1, 0, R)), Err(ZxError::NoMemory));
        assert_eq!(unmap_all(&mut vmar, top, u64::MAX), Err(ZxError::InvalidArgs));
        assert_eq!(unmap_all(&mut vmar, top + 14 * P, 2 * P), Err(ZxError::InvalidArgs));
        assert_eq!(unmap_all(&mut vmar, top + 14 * P, P).unwrap().len(), 1);
    }

    // ---- unmap ----

    #[test]
    fn unmap_middle_splits_in_two() {
        let mut vmar = user_vmar();
        let base = map_at(&mut vmar, 0x100_0000, 8, 7);
        let removed = unmap_all(&mut vmar, base + 2 * P, 3 * P).unwrap();
        assert_eq!(removed.len(), 1);
        let cut = removed[0];
        assert_eq!((cut.mapping.base, cut.mapping.len, cut.mapping.vmo_offset), (base + 2 * P, 3 * P, 2 * P));
        assert_eq!(cut.pieces_left, 2);
        assert_eq!(cut.mapping_count_delta(), 1);
        assert_eq!(layout(&vmar), vec![(base, 2 * P, 7, 0, RW), (base + 5 * P, 3 * P, 7, 5 * P, RW)]);
        assert_eq!(vmar.mappings_of(7).count(), 2);
    }

    #[test]
    fn unmap_head_and_tail() {
        let mut vmar = user_vmar();
        let base = vmar.map(Some(0x100_0000 - USER_BASE), P, RW, source(8 * P, 7, 16 * P, RWX)).unwrap();
        let head = unmap_all(&mut vmar, base, 2 * P).unwrap();
        assert_eq!(head[0].mapping.vmo_offset, 16 * P);
        assert_eq!(head[0].pieces_left, 1);
        assert_eq!(head[0].mapping_count_delta(), 0);
        let tail = unmap_all(&mut vmar, base + 7 * P, 1).unwrap(); // len rounds up to a page
        assert_eq!((tail[0].mapping.base, tail[0].mapping.len), (base + 7 * P, P));
        assert_eq!(tail[0].mapping.vmo_offset, 23 * P);
        assert_eq!(layout(&vmar), vec![(base + 2 * P, 5 * P, 7, 18 * P, RW)]);
    }

    #[test]
    fn unmap_spanning_several_mappings() {
        let mut vmar = user_vmar();
        let a = map_at(&mut vmar, 0x100_0000, 4, 1);
        let b = map_at(&mut vmar, 0x100_0000 + 4 * P, 2, 2);
        // hole of 2 pages
        let c = map_at(&mut vmar, 0x100_0000 + 8 * P, 4, 3);
        let removed = unmap_all(&mut vmar, a + 3 * P, 7 * P).unwrap();
        let summary: Vec<(u64, u64, u32, u64, usize)> = removed
            .iter()
            .map(|u| (u.mapping.base, u.mapping.len, u.mapping.vmo, u.mapping.vmo_offset, u.pieces_left))
            .collect();
        assert_eq!(summary, vec![(a + 3 * P, P, 1, 3 * P, 1), (b, 2 * P, 2, 0, 0), (c, 2 * P, 3, 0, 1)]);
        assert_eq!(removed[1].mapping_count_delta(), -1);
        assert_eq!(layout(&vmar), vec![(a, 3 * P, 1, 0, RW), (c + 2 * P, 2 * P, 3, 2 * P, RW)]);
    }

    #[test]
    fn unmap_checks_and_empty_ranges() {
        let mut vmar = user_vmar();
        map_at(&mut vmar, 0x100_0000, 1, 1);
        assert_eq!(unmap_all(&mut vmar, 0x100_0001, P), Err(ZxError::InvalidArgs));
        assert_eq!(unmap_all(&mut vmar, 0x100_0000, 0), Err(ZxError::InvalidArgs));
        assert_eq!(unmap_all(&mut vmar, 0x100_0000, u64::MAX), Err(ZxError::InvalidArgs));
        assert_eq!(unmap_all(&mut vmar, 0, P), Err(ZxError::InvalidArgs));
        assert_eq!(unmap_all(&mut vmar, USER_END, P), Err(ZxError::InvalidArgs));
        assert_eq!(unmap_all(&mut vmar, USER_END - P, 2 * P), Err(ZxError::InvalidArgs));
        assert_eq!(unmap_all(&mut vmar, !(P - 1), P), Err(ZxError::InvalidArgs));
        // Nothing mapped there: OK, nothing removed.
        assert_eq!(unmap_all(&mut vmar, 0x200_0000, 16 * P), Ok(vec![]));
        assert_eq!(vmar.mapping_count(), 1);
        // The whole VMAR.
        let len = vmar.len();
        assert_eq!(unmap_all(&mut vmar, USER_BASE, len).unwrap().len(), 1);
        assert_eq!(vmar.mapping_count(), 0);
    }

    #[test]
    fn map_overwrite_replaces_what_was_there() {
        let mut vmar = user_vmar();
        let a = map_at(&mut vmar, 0x100_0000, 4, 1);
        let addr = vmar.map_overwrite(a + P - USER_BASE, P, R, source(2 * P, 2, 0, R)).unwrap();
        let removed: Vec<Unmapped<u32>> = core::iter::from_fn(|| vmar.take_unmapped()).collect();
        assert_eq!(addr, a + P);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].pieces_left, 2);
        assert_eq!(layout(&vmar), vec![(a, P, 1, 0, RW), (a + P, 2 * P, 2, 0, R), (a + 3 * P, P, 1, 3 * P, RW)]);
        // Bad arguments change nothing.
        assert_eq!(vmar.map_overwrite(vmar.len(), P, R, source(P, 3, 0, R)), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.map_overwrite(0, P, RW, source(P, 3, 0, R)), Err(ZxError::AccessDenied));
        assert_eq!(vmar.mapping_count(), 3);
    }

    /// Issue 13, defect 2: mapping one page at a time until the heap runs out, then one
    /// unmap of the whole range. Mapping is fallible (NO_MEMORY, nothing changed); the
    /// unmap, however many mappings it removes, allocates nothing; punching a hole
    /// (a new mapping) is the one unmap that needs room, and refuses cleanly without it.
    #[test]
    fn mapping_is_fallible_and_unmapping_never_allocates() {
        use crate::arch::host_alloc::{allocations_during, with_heap_budget};
        let mut vmar = user_vmar();
        let mut mapped = 0u64;
        loop {
            match with_heap_budget(64 * 1024, || vmar.map(None, P, RW, source(P, 1, 0, RWX))) {
                Ok(_) => mapped += 1,
                Err(e) => {
                    assert_eq!(e, ZxError::NoMemory);
                    break;
                }
            }
            if mapped > 200_000 {
                panic!("the map never ran out of memory");
            }
        }
        assert!(mapped > 100, "only {mapped} mappings");
        assert_eq!(vmar.mapping_count() as u64, mapped);
        let before = layout(&vmar);
        // A hole in a mapping needs one more entry: refused without memory.
        map_at(&mut vmar, 0x100_0000, 4, 2);
        let with_hole_target = layout(&vmar);
        if vmar.mappings.len() == vmar.mappings.capacity() {
            assert_eq!(with_heap_budget(0, || vmar.unmap(0x100_0000 + P, P)), Err(ZxError::NoMemory));
            assert_eq!(layout(&vmar), with_hole_target);
            assert_eq!(
                with_heap_budget(0, || vmar.protect(0x100_0000 + P, P, R)).map(|o| o.changed),
                Err(ZxError::NoMemory)
            );
            assert_eq!(layout(&vmar), with_hole_target);
        }
        unmap_all(&mut vmar, 0x100_0000, 4 * P).unwrap();
        assert_eq!(layout(&vmar), before);
        // One unmap of everything, and taking every piece, with no heap at all.
        let len = vmar.len();
        let mut taken = 0;
        let allocations = allocations_during(|| {
            with_heap_budget(0, || {
                assert_eq!(vmar.unmap(USER_BASE, len), Ok(mapped as usize));
                while let Some(piece) = vmar.take_unmapped() {
                    assert_eq!(piece.pieces_left, 0);
                    taken += 1;
                }
            })
        });
        assert_eq!(allocations, 0);
        assert_eq!(taken, mapped);
        assert_eq!(vmar.mapping_count(), 0);
    }

    // ---- protect ----

    #[test]
    fn protect_splits_at_edges() {
        let mut vmar = user_vmar();
        let base = map_at(&mut vmar, 0x100_0000, 6, 1);
        let changed = vmar.protect(base + 2 * P, 2 * P, R).unwrap();
        assert_eq!(changed.changed, 1);
        let split = changed.splits[0].unwrap();
        assert_eq!(changed.splits[1], None);
        assert_eq!(split.pieces, 3);
        assert_eq!(split.mapping_count_delta(), 2);
        assert_eq!((split.mapping.base, split.mapping.len, split.mapping.perms()), (base + 2 * P, 2 * P, R));
        assert_eq!(
            layout(&vmar),
            vec![(base, 2 * P, 1, 0, RW), (base + 2 * P, 2 * P, 1, 2 * P, R), (base + 4 * P, 2 * P, 1, 4 * P, RW)]
        );
        assert_eq!(vmar.find(base + 2 * P).unwrap().max_perms(), RWX);
        // Raise back within max_perms across all three, no hole: one change, the
        // others already have RW.
        let changed = vmar.protect(base, 6 * P, RW).unwrap();
        assert_eq!(changed.changed, 1);
        assert_eq!(changed.splits, [None, None]);
        assert!(vmar.iter().all(|m| m.perms() == RW));
        // Protect to nothing is allowed; the head piece is split off.
        let changed = vmar.protect(base + P, P, 0).unwrap();
        assert_eq!(changed.splits[0].unwrap().pieces, 2);
        assert_eq!(vmar.find(base + P).unwrap().perms(), 0);
        assert_eq!(vmar.find(base).unwrap().perms(), RW);
    }

    #[test]
    fn protect_holes_are_not_found() {
        let mut vmar = user_vmar();
        let a = map_at(&mut vmar, 0x100_0000, 2, 1);
        let b = map_at(&mut vmar, 0x100_0000 + 3 * P, 2, 2);
        let before = layout(&vmar);
        assert_eq!(vmar.protect(a, 5 * P, R), Err(ZxError::NotFound)); // hole between
        assert_eq!(vmar.protect(a - P, 2 * P, R), Err(ZxError::NotFound)); // hole at start
        assert_eq!(vmar.protect(b, 3 * P, R), Err(ZxError::NotFound)); // hole at end
        assert_eq!(vmar.protect(0x200_0000, P, R), Err(ZxError::NotFound)); // nothing
        assert_eq!(layout(&vmar), before);
        assert_eq!(vmar.protect(a + 1, P, R), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.protect(a, 0, R), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.protect(a, P, vm::PERM_WRITE), Err(ZxError::InvalidArgs));
        assert_eq!(vmar.protect(USER_END - P, 2 * P, R), Err(ZxError::InvalidArgs));
    }

    #[test]
    fn protect_respects_max_perms_before_changing_anything() {
        let mut vmar = user_vmar();
        let a = map_at(&mut vmar, 0x100_0000, 2, 1); // max RWX
        let b = vmar.map(Some(a + 2 * P - USER_BASE), P, R, source(2 * P, 2, 0, RW)).unwrap();
        let before = layout(&vmar);
        assert_eq!(vmar.protect(a, 4 * P, RWX), Err(ZxError::AccessDenied));
        assert_eq!(layout(&vmar), before);
        // First problem in address order wins: a limit before a trailing hole.
        assert_eq!(vmar.protect(b, 3 * P, RWX), Err(ZxError::AccessDenied));
        // A hole before the limited mapping wins over its limit.
        unmap_all(&mut vmar, a + P, P).unwrap();
        assert_eq!(vmar.protect(a, 4 * P, RWX), Err(ZxError::NotFound));
        assert_eq!(vmar.protect(b, 2 * P, RW).unwrap().changed, 1);
    }

    // ---- lookup and teardown ----

    #[test]
    fn overlapping_lists_straddling_and_inner_mappings() {
        let mut vmar = user_vmar();
        let a = map_at(&mut vmar, 0x100_0000, 2, 1);
        let b = map_at(&mut vmar, 0x100_0000 + 4 * P, 1, 2);
        let c = map_at(&mut vmar, 0x100_0000 + 8 * P, 2, 3);
        let bases = |s: u64, e: u64| vmar.overlapping(s, e).map(|m| m.base).collect::<Vec<_>>();
        assert_eq!(bases(a + P, c + P), vec![a, b, c]);
        assert_eq!(bases(a + 2 * P, b), Vec::<u64>::new());
        assert_eq!(bases(a + 2 * P, b + 1), vec![b]);
        assert_eq!(bases(0, u64::MAX), vec![a, b, c]);
        assert_eq!(bases(c + 2 * P, u64::MAX), Vec::<u64>::new());
        assert_eq!(bases(c, c), Vec::<u64>::new());
        assert_eq!(bases(c + P, a), Vec::<u64>::new());
    }

    #[test]
    fn find_iter_mappings_of_and_drain() {
        let mut vmar = user_vmar();
        let a = map_at(&mut vmar, 0x100_0000, 2, 1);
        let b = map_at(&mut vmar, 0x100_0000 + 4 * P, 1, 2);
        let c = map_at(&mut vmar, 0x100_0000 + 8 * P, 1, 1);
        assert_eq!(vmar.find(a).unwrap().base, a);
        assert_eq!(vmar.find(a + 2 * P - 1).unwrap().base, a);
        assert!(vmar.find(a + 2 * P).is_none());
        assert!(vmar.find(a - 1).is_none());
        assert!(vmar.find(0).is_none());
        assert!(vmar.find(u64::MAX).is_none());
        assert_eq!(vmar.iter().map(|m| m.base).collect::<Vec<_>>(), vec![a, b, c]);
        assert_eq!(vmar.mappings_of(1).map(|m| m.base).collect::<Vec<_>>(), vec![a, c]);
        assert_eq!(vmar.mappings_of(9).count(), 0);
        let drained: Vec<u32> = vmar.drain().map(|m| m.vmo).collect();
        assert_eq!(drained, vec![1, 2, 1]);
        assert_eq!(vmar.mapping_count(), 0);
        map_at(&mut vmar, a, 1, 4);
        vmar.clear();
        assert!(vmar.find(a).is_none());
    }

    /// `find_hinted` answers as `find` does whatever happened to the mappings since the
    /// hint was taken: unmaps, cuts, holes, overwrites and protects move the indices.
    #[test]
    fn hinted_find_agrees_with_find_after_every_change() {
        let mut vmar = user_vmar();
        let mut rng = crate::test_rng::Rng(0x9e37_79b9_7f4a_7c15u64);
        let mut next = || rng.next_u64();
        for step in 0..3000u32 {
            let r = next();
            let addr = FLOOR + (r % 64) * P;
            let pages = (r >> 8) % 5 + 1;
            match (r >> 16) % 4 {
                0 => {
                    let _ = vmar.map(Some(addr - vmar.base()), P, RW, source(pages * P, step, 0, RWX));
                }
                1 => {
                    let _ = unmap_all(&mut vmar, addr, pages * P);
                }
                2 => {
                    let _ = vmar.map_overwrite(addr - vmar.base(), P, RW, source(pages * P, step, 0, RWX));
                    while vmar.take_unmapped().is_some() {}
                }
                _ => {
                    let _ = vmar.protect(addr, pages * P, R);
                }
            }
            for probe in 0..3 {
                let at = FLOOR + ((r >> (24 + 8 * probe)) % 70) * P + (r >> 50) % P;
                let expected = vmar.find(at).copied();
                assert_eq!(vmar.find_hinted(at).copied(), expected, "step {step}, {at:#x}");
            }
        }
    }
}
