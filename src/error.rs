//! The kernel's one error type: Zircon's status codes, with Zircon's values.
//!
//! Every fallible kernel function returns [`ZxResult`]; the syscall layer turns the
//! error into the `zx_status_t` that user space sees in x0.

/// A Zircon error status (ABI.md §5). `ZX_OK` is not an error and so is not a variant:
/// success is `Ok(..)`. Held as a 64-bit value (`repr(i64)`): a `ZxResult` is then
/// already the sign-extended word a syscall returns in x0 (0 for `Ok(())`, the status
/// otherwise), so the syscall exit does not widen it (`status_word`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i64)]
pub enum ZxError {
    /// `ZX_ERR_INTERNAL`: a kernel invariant broke.
    Internal = -1,
    /// `ZX_ERR_NOT_SUPPORTED`: the operation does not apply to this object.
    NotSupported = -2,
    /// `ZX_ERR_NO_RESOURCES`: a fixed resource (such as handle slots) ran out.
    NoResources = -3,
    /// `ZX_ERR_NO_MEMORY`: memory (frames, heap, address space) ran out.
    NoMemory = -4,
    /// `ZX_ERR_INVALID_ARGS`: an argument is malformed.
    InvalidArgs = -10,
    /// `ZX_ERR_BAD_HANDLE`: the handle value names nothing.
    BadHandle = -11,
    /// `ZX_ERR_WRONG_TYPE`: the handle names an object of another type.
    WrongType = -12,
    /// `ZX_ERR_BAD_SYSCALL`: no such syscall number.
    BadSyscall = -13,
    /// `ZX_ERR_OUT_OF_RANGE`: an offset or size lies outside the object.
    OutOfRange = -14,
    /// `ZX_ERR_BUFFER_TOO_SMALL`: the caller's buffer cannot hold the result.
    BufferTooSmall = -15,
    /// `ZX_ERR_BAD_STATE`: the object is not in a state that allows the operation.
    BadState = -20,
    /// `ZX_ERR_TIMED_OUT`: the deadline passed.
    TimedOut = -21,
    /// `ZX_ERR_SHOULD_WAIT`: the operation would block.
    ShouldWait = -22,
    /// `ZX_ERR_CANCELED`: the wait was canceled.
    Canceled = -23,
    /// `ZX_ERR_PEER_CLOSED`: the other end is gone.
    PeerClosed = -24,
    /// `ZX_ERR_NOT_FOUND`: nothing is there (such as a hole in a protect range).
    NotFound = -25,
    /// `ZX_ERR_ALREADY_EXISTS`: something is there already.
    AlreadyExists = -26,
    /// `ZX_ERR_ALREADY_BOUND`: already bound.
    AlreadyBound = -27,
    /// `ZX_ERR_UNAVAILABLE`: the object cannot do this (such as resizing a fixed-size VMO).
    Unavailable = -28,
    /// `ZX_ERR_ACCESS_DENIED`: the handle lacks a right, or the resource forbids it.
    AccessDenied = -30,
    /// `ZX_ERR_IO`: an input/output error.
    Io = -40,
}

/// `Result` with a Zircon status as the error.
pub type ZxResult<T = ()> = Result<T, ZxError>;

impl ZxError {
    /// The `zx_status_t` value.
    pub const fn status(self) -> i32 {
        self as i64 as i32
    }

    /// The name Zircon gives the status, for log lines.
    pub const fn name(self) -> &'static str {
        match self {
            ZxError::Internal => "ZX_ERR_INTERNAL",
            ZxError::NotSupported => "ZX_ERR_NOT_SUPPORTED",
            ZxError::NoResources => "ZX_ERR_NO_RESOURCES",
            ZxError::NoMemory => "ZX_ERR_NO_MEMORY",
            ZxError::InvalidArgs => "ZX_ERR_INVALID_ARGS",
            ZxError::BadHandle => "ZX_ERR_BAD_HANDLE",
            ZxError::WrongType => "ZX_ERR_WRONG_TYPE",
            ZxError::BadSyscall => "ZX_ERR_BAD_SYSCALL",
            ZxError::OutOfRange => "ZX_ERR_OUT_OF_RANGE",
            ZxError::BufferTooSmall => "ZX_ERR_BUFFER_TOO_SMALL",
            ZxError::BadState => "ZX_ERR_BAD_STATE",
            ZxError::TimedOut => "ZX_ERR_TIMED_OUT",
            ZxError::ShouldWait => "ZX_ERR_SHOULD_WAIT",
            ZxError::Canceled => "ZX_ERR_CANCELED",
            ZxError::PeerClosed => "ZX_ERR_PEER_CLOSED",
            ZxError::NotFound => "ZX_ERR_NOT_FOUND",
            ZxError::AlreadyExists => "ZX_ERR_ALREADY_EXISTS",
            ZxError::AlreadyBound => "ZX_ERR_ALREADY_BOUND",
            ZxError::Unavailable => "ZX_ERR_UNAVAILABLE",
            ZxError::AccessDenied => "ZX_ERR_ACCESS_DENIED",
            ZxError::Io => "ZX_ERR_IO",
        }
    }
}

impl core::fmt::Display for ZxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.status())
    }
}

/// Turns a result into the value placed in x0: 0 or the status, sign-extended.
pub fn status_word(result: ZxResult) -> u64 {
    match result {
        Ok(()) => 0,
        Err(e) => e as i64 as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_zircon_values_and_sign_extend() {
        assert_eq!(ZxError::BadSyscall.status(), -13);
        assert_eq!(ZxError::AccessDenied.status(), -30);
        assert_eq!(status_word(Ok(())), 0);
        assert_eq!(status_word(Err(ZxError::BadHandle)), 0xffff_ffff_ffff_fff5);
    }
}
