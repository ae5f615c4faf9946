//! Decoding of the exception syndrome (`ESR_EL1`) into what happened: a system call, a
//! page fault the VM layer may resolve, or a fault that kills the process.
//!
//! `ESR_EL1`: exception class `EC` in bits 31..26, instruction length `IL` in bit 25, the
//! class-specific syndrome `ISS` in bits 24..0 (Arm ARM D17.2.37).

use core::fmt;

/// How a memory access failed: the fault status code (DFSC/IFSC, ISS bits 5..0) decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// No valid descriptor at `level` (0..=3): the page is not mapped (yet).
    Translation {
        /// The translation table level of the walk that failed.
        level: u8,
    },
    /// The descriptor's access flag is clear.
    AccessFlag {
        /// The level of the descriptor.
        level: u8,
    },
    /// The descriptor forbids this access (write to read-only, execute of XN, ...).
    Permission {
        /// The level of the descriptor.
        level: u8,
    },
    /// A misaligned access to Device memory, or with alignment checking on.
    Alignment,
    /// Any other status code (address size, external abort, TLB conflict, ...).
    Other(u8),
}

impl FaultKind {
    /// True for the faults a page-fault handler can cure by mapping a page:
    /// translation, access flag and permission faults.
    pub fn may_be_resolved(self) -> bool {
        matches!(self, FaultKind::Translation { .. } | FaultKind::AccessFlag { .. } | FaultKind::Permission { .. })
    }
}

impl FaultKind {
    /// Decodes a DFSC/IFSC value.
    pub fn from_status(status: u8) -> Self {
        let level = status & 0b11;
        match status & 0b11_1111 {
            0b00_0100..=0b00_0111 => FaultKind::Translation { level },
            0b00_1000..=0b00_1011 => FaultKind::AccessFlag { level },
            0b00_1100..=0b00_1111 => FaultKind::Permission { level },
            0b10_0001 => FaultKind::Alignment,
            other => FaultKind::Other(other),
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FaultKind::Translation { level } => write!(f, "translation fault, level {level}"),
            FaultKind::AccessFlag { level } => write!(f, "access flag fault, level {level}"),
            FaultKind::Permission { level } => write!(f, "permission fault, level {level}"),
            FaultKind::Alignment => write!(f, "alignment fault"),
            FaultKind::Other(status) => write!(f, "fault status {status:#04x}"),
        }
    }
}

/// Why an exception was taken, from its syndrome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapCause {
    /// `svc #imm` from AArch64.
    Svc64 {
        /// The instruction's immediate.
        imm: u16,
    },
    /// A load or store faulted; the address is in `FAR_EL1` when `far_valid`. `write` is
    /// WnR without CM: a faulting cache maintenance instruction (`dc civac`) counts as a
    /// read, as in Zircon, so it never commits a page or needs write permission.
    DataAbort {
        /// Taken from EL1 (the kernel), not from EL0.
        same_el: bool,
        /// The access was a write (WnR set and CM clear).
        write: bool,
        /// Why the access failed.
        fault: FaultKind,
        /// `FAR_EL1` holds the faulting address.
        far_valid: bool,
    },
    /// An instruction fetch faulted; the address is in `FAR_EL1`.
    InstructionAbort {
        /// Taken from EL1 (the kernel), not from EL0.
        same_el: bool,
        /// Why the fetch failed.
        fault: FaultKind,
    },
    /// An undefined or unallocated instruction (EC 0, "unknown reason").
    Undefined,
    /// `eret` or an exception return to an illegal state (PSTATE.IL).
    IllegalState,
    /// A branch to a misaligned PC.
    PcAlignment,
    /// A load or store through a misaligned SP.
    SpAlignment,
    /// `brk #imm`.
    Breakpoint {
        /// The instruction's immediate.
        imm: u16,
    },
    /// FP/SIMD instruction while CPACR_EL1.FPEN traps it.
    FpAccess,
    /// An asynchronous system error.
    SError,
    /// Any other exception class.
    Other {
        /// The exception class (ESR bits 31..26).
        ec: u8,
    },
}

// Exception classes (ESR_ELx.EC).
const EC_UNKNOWN: u8 = 0x00;
const EC_FP_ACCESS: u8 = 0x07;
const EC_ILLEGAL_STATE: u8 = 0x0e;
const EC_SVC64: u8 = 0x15;
const EC_INSTRUCTION_ABORT_LOWER: u8 = 0x20;
const EC_INSTRUCTION_ABORT_SAME: u8 = 0x21;
const EC_PC_ALIGNMENT: u8 = 0x22;
const EC_DATA_ABORT_LOWER: u8 = 0x24;
const EC_DATA_ABORT_SAME: u8 = 0x25;
const EC_SP_ALIGNMENT: u8 = 0x26;
const EC_SERROR: u8 = 0x2f;
const EC_BRK64: u8 = 0x3c;

// Data abort ISS bits.
const ISS_WNR: u64 = 1 << 6;
/// CM: the fault came from a cache maintenance or address translation instruction.
/// Such instructions report WnR = 1 but never write.
const ISS_CM: u64 = 1 << 8;
const ISS_FNV: u64 = 1 << 10;

impl TrapCause {
    /// Decodes an `ESR_EL1` value.
    pub fn from_esr(esr: u64) -> Self {
        let ec = ((esr >> 26) & 0x3f) as u8;
        let iss = esr & 0x1ff_ffff;
        let imm16 = (iss & 0xffff) as u16;
        let fault = FaultKind::from_status((iss & 0x3f) as u8);
        match ec {
            EC_UNKNOWN => TrapCause::Undefined,
            EC_FP_ACCESS => TrapCause::FpAccess,
            EC_ILLEGAL_STATE => TrapCause::IllegalState,
            EC_SVC64 => TrapCause::Svc64 { imm: imm16 },
            EC_INSTRUCTION_ABORT_LOWER | EC_INSTRUCTION_ABORT_SAME => {
                TrapCause::InstructionAbort { same_el: ec == EC_INSTRUCTION_ABORT_SAME, fault }
            }
            EC_PC_ALIGNMENT => TrapCause::PcAlignment,
            EC_DATA_ABORT_LOWER | EC_DATA_ABORT_SAME => TrapCause::DataAbort {
                same_el: ec == EC_DATA_ABORT_SAME,
                // Zircon: a write is `WnR && !CM`.
                write: iss & ISS_WNR != 0 && iss & ISS_CM == 0,
                fault,
                far_valid: iss & ISS_FNV == 0,
            },
            EC_SP_ALIGNMENT => TrapCause::SpAlignment,
            EC_SERROR => TrapCause::SError,
            EC_BRK64 => TrapCause::Breakpoint { imm: imm16 },
            ec => TrapCause::Other { ec },
        }
    }

    /// For a data abort from EL0 that is a translation fault (the page is not mapped yet:
    /// every first touch), whether the access was a write; `None` for any other ESR.
    /// The answer `from_esr` gives (`DataAbort { same_el: false, write, fault:
    /// Translation { .. }, .. }`), read from three fields without decoding the rest: the
    /// page-fault fast path asks this first.
    #[inline]
    pub fn user_translation_fault(esr: u64) -> Option<bool> {
        let ec = ((esr >> 26) & 0x3f) as u8;
        let status = esr & 0x3f;
        if ec != EC_DATA_ABORT_LOWER || !(0b00_0100..=0b00_0111).contains(&status) {
            return None;
        }
        Some(esr & ISS_WNR != 0 && esr & ISS_CM == 0)
    }

    /// The kind of exception in a few words, without its details.
    pub fn describe(&self) -> &'static str {
        match self {
            TrapCause::Svc64 { .. } => "supervisor call",
            TrapCause::DataAbort { .. } => "data abort",
            TrapCause::InstructionAbort { .. } => "instruction abort",
            TrapCause::Undefined => "undefined instruction",
            TrapCause::IllegalState => "illegal execution state",
            TrapCause::PcAlignment => "PC alignment fault",
            TrapCause::SpAlignment => "SP alignment fault",
            TrapCause::Breakpoint { .. } => "breakpoint",
            TrapCause::FpAccess => "FP/SIMD access trap",
            TrapCause::SError => "SError",
            TrapCause::Other { .. } => "unexpected exception",
        }
    }
}

/// The kind with its details, for the `user fault: <kind> esr=.. far=.. elr=..` line,
/// e.g. `data abort (translation fault, level 3, write)`.
impl fmt::Display for TrapCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.describe();
        match *self {
            TrapCause::Svc64 { imm } | TrapCause::Breakpoint { imm } => {
                write!(f, "{kind} (#{imm:#x})")
            }
            TrapCause::DataAbort { same_el, write, fault, far_valid } => {
                let access = if write { "write" } else { "read" };
                write!(f, "{kind} ({fault}, {access}")?;
                if same_el {
                    write!(f, ", from EL1")?;
                }
                if !far_valid {
                    write!(f, ", FAR not valid")?;
                }
                write!(f, ")")
            }
            TrapCause::InstructionAbort { same_el, fault } => {
                let from = if same_el { ", from EL1" } else { "" };
                write!(f, "{kind} ({fault}{from})")
            }
            TrapCause::Other { ec } => write!(f, "{kind} (class {ec:#04x})"),
            TrapCause::Undefined
            | TrapCause::IllegalState
            | TrapCause::PcAlignment
            | TrapCause::SpAlignment
            | TrapCause::FpAccess
            | TrapCause::SError => write!(f, "{kind}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_translation_fault_agrees_with_from_esr() {
        // Every EC with every fault status and the WnR, CM and FnV bits, plus IL.
        for ec in 0..0x40u64 {
            for status in 0..0x40u64 {
                for bits in [0, 1 << 6, 1 << 8, (1 << 6) | (1 << 8), 1 << 10, 1 << 25, (1 << 25) | (1 << 6)] {
                    let esr = (ec << 26) | bits | status;
                    let expected = match TrapCause::from_esr(esr) {
                        TrapCause::DataAbort {
                            same_el: false, write, fault: FaultKind::Translation { .. }, ..
                        } => Some(write),
                        _ => None,
                    };
                    assert_eq!(TrapCause::user_translation_fault(esr), expected, "esr {esr:#x}");
                }
            }
        }
    }

    use super::*;
    use std::string::ToString;

    fn decode(esr: u64) -> (TrapCause, std::string::String) {
        let cause = TrapCause::from_esr(esr);
        (cause, cause.to_string())
    }

    #[test]
    fn svc_from_el0() {
        assert_eq!(decode(0x5600_0000), (TrapCause::Svc64 { imm: 0 }, "supervisor call (#0x0)".to_string()));
        assert_eq!(TrapCause::from_esr(0x5600_0042), TrapCause::Svc64 { imm: 0x42 });
    }

    #[test]
    fn user_data_aborts() {
        let (cause, line) = decode(0x9200_0047);
        assert_eq!(
            cause,
            TrapCause::DataAbort {
                same_el: false,
                write: true,
                fault: FaultKind::Translation { level: 3 },
                far_valid: true
            }
        );
        assert_eq!(line, "data abort (translation fault, level 3, write)");
        // Read of a page at level 2 that has no table.
        assert_eq!(decode(0x9200_0006).1, "data abort (translation fault, level 2, read)");
        // Write to a read-only page.
        let (cause, line) = decode(0x9200_004f);
        assert!(matches!(cause, TrapCause::DataAbort { write: true, fault: FaultKind::Permission { level: 3 }, .. }));
        assert_eq!(line, "data abort (permission fault, level 3, write)");
        assert_eq!(decode(0x9200_000b).1, "data abort (access flag fault, level 3, read)");
        assert_eq!(decode(0x9200_0061).1, "data abort (alignment fault, write)");
    }

    /// Issue 13, defect 5: a cache maintenance instruction (`dc civac`, `dc cvac`, ...)
    /// that faults reports WnR = 1 with CM = 1. It is not a write (Zircon: `WnR && !CM`),
    /// so it must neither kill a program on a read-only mapping nor commit a page.
    #[test]
    fn cache_maintenance_faults_are_not_writes() {
        // dc civac on a read-only page at EL0: permission fault, level 3, CM and WnR set.
        let (cause, line) = decode(0x9200_014f);
        assert_eq!(
            cause,
            TrapCause::DataAbort {
                same_el: false,
                write: false,
                fault: FaultKind::Permission { level: 3 },
                far_valid: true
            }
        );
        assert_eq!(line, "data abort (permission fault, level 3, read)");
        // dc civac on an untouched page: translation fault, not a write either.
        assert!(matches!(TrapCause::from_esr(0x9200_0147), TrapCause::DataAbort { write: false, .. }));
        // CM without WnR (as some cores report a `dc ivac`-style read) stays a read, and
        // WnR without CM is still a write.
        assert!(matches!(TrapCause::from_esr(0x9200_0107), TrapCause::DataAbort { write: false, .. }));
        assert!(matches!(TrapCause::from_esr(0x9200_0047), TrapCause::DataAbort { write: true, .. }));
        // The same from EL1 (the copy routine never issues one, but the decoder is shared).
        assert!(matches!(TrapCause::from_esr(0x9600_014f), TrapCause::DataAbort { write: false, same_el: true, .. }));
    }

    #[test]
    fn kernel_data_abort_and_external_abort_without_far() {
        assert_eq!(decode(0x9600_0004).1, "data abort (translation fault, level 0, read, from EL1)");
        let (cause, line) = decode(0x9200_0410);
        assert_eq!(
            cause,
            TrapCause::DataAbort { same_el: false, write: false, fault: FaultKind::Other(0x10), far_valid: false }
        );
        assert_eq!(line, "data abort (fault status 0x10, read, FAR not valid)");
    }

    #[test]
    fn instruction_aborts() {
        assert_eq!(
            decode(0x8200_0007),
            (
                TrapCause::InstructionAbort { same_el: false, fault: FaultKind::Translation { level: 3 } },
                "instruction abort (translation fault, level 3)".to_string()
            )
        );
        // Executing a non-executable page.
        assert_eq!(decode(0x8200_000f).1, "instruction abort (permission fault, level 3)");
        assert_eq!(decode(0x8600_000f).1, "instruction abort (permission fault, level 3, from EL1)");
    }

    #[test]
    fn other_synchronous_exceptions() {
        // HLT at EL0 without semihosting (boot facts): EC 0.
        assert_eq!(decode(0x0200_0000), (TrapCause::Undefined, "undefined instruction".to_string()));
        assert_eq!(decode(0xf200_03e8), (TrapCause::Breakpoint { imm: 0x3e8 }, "breakpoint (#0x3e8)".to_string()));
        assert_eq!(TrapCause::from_esr(0x1fe0_0000), TrapCause::FpAccess);
        assert_eq!(TrapCause::from_esr(0x3a00_0000), TrapCause::IllegalState);
        assert_eq!(TrapCause::from_esr(0x8a00_0000), TrapCause::PcAlignment);
        assert_eq!(decode(0x9a00_0000).1, "SP alignment fault");
        assert_eq!(TrapCause::from_esr(0xbe00_0000), TrapCause::SError);
        // MSR/MRS trap: not decoded further.
        assert_eq!(
            decode(0x6232_c002),
            (TrapCause::Other { ec: 0x18 }, "unexpected exception (class 0x18)".to_string())
        );
    }

    #[test]
    fn upper_esr_bits_do_not_change_the_class() {
        // ISS2 (bits 55..32) is set on newer cores; EC still comes from bits 31..26.
        assert_eq!(TrapCause::from_esr(0x0000_0001_5600_0000), TrapCause::Svc64 { imm: 0 });
    }

    #[test]
    fn fault_status_codes() {
        assert_eq!(FaultKind::from_status(0x04), FaultKind::Translation { level: 0 });
        assert_eq!(FaultKind::from_status(0x09), FaultKind::AccessFlag { level: 1 });
        assert_eq!(FaultKind::from_status(0x0e), FaultKind::Permission { level: 2 });
        assert_eq!(FaultKind::from_status(0x21), FaultKind::Alignment);
        assert_eq!(FaultKind::from_status(0x01), FaultKind::Other(0x01));
        assert_eq!(FaultKind::from_status(0x30), FaultKind::Other(0x30));
    }
}
