//! The few AArch64 instruction encodings the kernel writes into its own text, once, at
//! boot: the "static key" sites (`arch::aarch64::static_key`) assemble as a `nop` and
//! become a `b` to their "on" code, or a given instruction (`msr pan, #imm` in the user
//! copies), when the flag they stand for is on. The boot patcher asks [`PatchSite::word_when_on`]
//! what to write; everything here is plain arithmetic, unit-tested on the host.

/// `nop`: what every site holds as assembled (its flag off).
pub const NOP: u32 = 0xd503_201f;

/// `b` with a zero offset; the word offset goes in bits 0..26 (imm26).
const B_OPCODE: u32 = 0x1400_0000;

/// The farthest a `b` reaches: imm26 words either way, so [-128 MiB, +128 MiB - 4].
pub const B_REACH: i64 = 1 << 27;

/// `b to`, placed at `from`: `None` when either address is not 4-byte aligned or `to`
/// is beyond the ±128 MiB reach of imm26 (a link-time layout the patcher must refuse
/// rather than write a branch to somewhere else).
pub fn branch(from: u64, to: u64) -> Option<u32> {
    if !from.is_multiple_of(4) || !to.is_multiple_of(4) {
        return None;
    }
    let offset = to.wrapping_sub(from) as i64;
    if !(-B_REACH..B_REACH).contains(&offset) {
        return None;
    }
    Some(B_OPCODE | ((offset >> 2) as u32 & 0x03ff_ffff))
}

/// The byte offset a `b` word branches by (for the checks that read a site back).
pub fn branch_offset(word: u32) -> Option<i64> {
    if word & 0xfc00_0000 != B_OPCODE {
        return None;
    }
    // imm26 sign-extended, times 4: shift it to the top of an i32, then arithmetically back.
    Some(i64::from(((word << 6) as i32) >> 4))
}

/// `msr pan, #on` (ARMv8.1 PAN), as its encoding, for assemblers without ARMv8.1.
pub const fn msr_pan(on: bool) -> u32 {
    0xd500_409f | (on as u32) << 8
}

/// One record of the linker section `__ferrite_patch_sites`, as the sites' assembly
/// writes it (`.quad site, target; .word key, on, off, 0`): 32 bytes, 8-aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchSite {
    /// Address of the site's instruction.
    pub site: u64,
    /// Where the site branches to when its key is on; 0: it takes [`PatchSite::on`] instead.
    pub target: u64,
    /// Which flag the site stands for (`arch::aarch64::static_key::Key`).
    pub key: u32,
    /// The instruction written when the key is on and `target` is 0.
    pub on: u32,
    /// The instruction the site holds as assembled (its key off): a `nop` for a branch
    /// site, `movz wN, #0` for a site that yields the flag in a register.
    pub off: u32,
    /// Zero (keeps the record a multiple of 8 bytes).
    pub reserved: u32,
}

impl PatchSite {
    /// The instruction the site must hold when its key is on: `b target`, or `on`.
    /// `None` for a record that cannot be honoured (a misaligned site, a branch out of
    /// reach, or an `on` or `off` of 0, which is no instruction: an ill-formed record).
    pub fn word_when_on(&self) -> Option<u32> {
        if !self.site.is_multiple_of(4) || self.off == 0 {
            return None;
        }
        match self.target {
            0 if self.on != 0 => Some(self.on),
            0 => None,
            target => branch(self.site, target),
        }
    }

    /// The instruction the site must hold with its key `on` or off.
    pub fn expected(&self, on: bool) -> Option<u32> {
        let when_on = self.word_when_on()?;
        Some(if on { when_on } else { self.off })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_encodes_forward_and_backward_offsets() {
        let at = 0xffff_ffff_8000_1000;
        assert_eq!(branch(at, at + 4), Some(0x1400_0001));
        assert_eq!(branch(at, at), Some(0x1400_0000));
        // `b .-4` is imm26 all ones.
        assert_eq!(branch(at, at - 4), Some(0x17ff_ffff));
        assert_eq!(branch(at, at + 0x40), Some(0x1400_0010));
        for offset in [4i64, -4, 0x40, -0x1000, B_REACH - 4, -B_REACH] {
            let word = branch(at, at.wrapping_add(offset as u64)).unwrap();
            assert_eq!(branch_offset(word), Some(offset), "offset {offset:#x}");
        }
    }

    #[test]
    fn branch_refuses_what_imm26_cannot_reach() {
        let at = 0xffff_ffff_8000_0000u64;
        assert_eq!(branch(at, at + B_REACH as u64), None);
        assert_eq!(branch(at, at - B_REACH as u64 - 4), None);
        assert!(branch(at, at + B_REACH as u64 - 4).is_some());
        assert!(branch(at, at - B_REACH as u64).is_some());
        // Far apart in the address space (the linear map and the image).
        assert_eq!(branch(at, 0xffff_0000_0000_0000), None);
    }

    #[test]
    fn branch_refuses_misaligned_addresses() {
        let at = 0xffff_ffff_8000_0000u64;
        assert_eq!(branch(at + 2, at + 8), None);
        assert_eq!(branch(at, at + 6), None);
    }

    #[test]
    fn branch_offset_reads_only_branches() {
        assert_eq!(branch_offset(NOP), None);
        assert_eq!(branch_offset(msr_pan(true)), None);
        // `bl` (0x94..) is not `b`.
        assert_eq!(branch_offset(0x9400_0001), None);
    }

    #[test]
    fn msr_pan_matches_the_architected_encodings() {
        // msr pan, #0 / #1 (what llvm-mc assembles with +pan).
        assert_eq!(msr_pan(false), 0xd500_409f);
        assert_eq!(msr_pan(true), 0xd500_419f);
    }

    #[test]
    fn a_site_becomes_its_branch_or_its_word() {
        let site = 0xffff_ffff_8000_2000;
        let branchy = PatchSite { site, target: site + 0x100, key: 0, on: 0, off: NOP, reserved: 0 };
        assert_eq!(branchy.word_when_on(), Some(0x1400_0040));
        assert_eq!(branchy.expected(false), Some(NOP));
        assert_eq!(branchy.expected(true), Some(0x1400_0040));
        let pan = PatchSite { site, target: 0, key: 2, on: msr_pan(false), off: NOP, reserved: 0 };
        assert_eq!(pan.word_when_on(), Some(0xd500_409f));
        assert_eq!(pan.expected(false), Some(NOP));
        // movz w8, #1 / movz w8, #0: a site that yields the flag in a register.
        let value = PatchSite { site, target: 0, key: 0, on: 0x5280_0028, off: 0x5280_0008, reserved: 0 };
        assert_eq!(value.expected(true), Some(0x5280_0028));
        assert_eq!(value.expected(false), Some(0x5280_0008));
    }

    #[test]
    fn ill_formed_sites_are_refused() {
        let site = 0xffff_ffff_8000_2000;
        let good = PatchSite { site, target: 0, key: 2, on: msr_pan(true), off: NOP, reserved: 0 };
        assert!(good.word_when_on().is_some());
        assert_eq!(PatchSite { on: 0, ..good }.word_when_on(), None);
        assert_eq!(PatchSite { off: 0, ..good }.word_when_on(), None);
        assert_eq!(PatchSite { off: 0, ..good }.expected(false), None);
        assert_eq!(PatchSite { site: site + 1, ..good }.word_when_on(), None);
        assert_eq!(PatchSite { target: site + (1 << 28), ..good }.word_when_on(), None);
    }

    #[test]
    fn the_record_is_32_bytes_as_the_assembly_writes_it() {
        assert_eq!(core::mem::size_of::<PatchSite>(), 32);
        assert_eq!(core::mem::align_of::<PatchSite>(), 8);
    }
}
