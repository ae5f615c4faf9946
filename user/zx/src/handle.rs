//! Owned handles, the operations every object has, and the typed handle wrappers.

use crate::abi::{info, obj_type, prop};
use crate::nr;
use crate::sys::{addr, call_ok};
use crate::{Port, Result, Rights, Signals, Status, Time, le_u32, le_u64};

/// A kernel object id.
pub type Koid = u64;

/// An owned handle: closed when dropped. The value 0 is the invalid handle.
#[derive(Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Handle(u32);

impl Handle {
    /// The invalid handle (`ZX_HANDLE_INVALID`); dropping it does nothing.
    pub const fn invalid() -> Handle {
        Handle(0)
    }

    /// Takes ownership of a raw handle value (it will be closed on drop).
    pub const fn from_raw(raw: u32) -> Handle {
        Handle(raw)
    }

    /// The raw value.
    pub const fn raw(&self) -> u32 {
        self.0
    }

    /// Gives up ownership and returns the raw value (not closed).
    pub fn into_raw(self) -> u32 {
        let raw = self.0;
        core::mem::forget(self);
        raw
    }

    /// Whether this is the invalid handle.
    pub const fn is_invalid(&self) -> bool {
        self.0 == 0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.0 != 0 {
            // SAFETY: no pointers.
            let _ = unsafe { call_ok(nr::HANDLE_CLOSE, [self.0 as u64]) };
        }
    }
}

/// Object types (`ZX_OBJ_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectType(pub u32);

impl ObjectType {
    /// A process.
    pub const PROCESS: ObjectType = ObjectType(obj_type::PROCESS);
    /// A thread.
    pub const THREAD: ObjectType = ObjectType(obj_type::THREAD);
    /// A VMO.
    pub const VMO: ObjectType = ObjectType(obj_type::VMO);
    /// A channel endpoint.
    pub const CHANNEL: ObjectType = ObjectType(obj_type::CHANNEL);
    /// An event.
    pub const EVENT: ObjectType = ObjectType(obj_type::EVENT);
    /// A port.
    pub const PORT: ObjectType = ObjectType(obj_type::PORT);
    /// A resource.
    pub const RESOURCE: ObjectType = ObjectType(obj_type::RESOURCE);
    /// An eventpair end.
    pub const EVENTPAIR: ObjectType = ObjectType(obj_type::EVENTPAIR);
    /// A job.
    pub const JOB: ObjectType = ObjectType(obj_type::JOB);
    /// A VMAR.
    pub const VMAR: ObjectType = ObjectType(obj_type::VMAR);
    /// A timer.
    pub const TIMER: ObjectType = ObjectType(obj_type::TIMER);
}

/// `ZX_INFO_HANDLE_BASIC`.
#[derive(Clone, Copy, Debug)]
pub struct HandleBasicInfo {
    /// The object's id.
    pub koid: Koid,
    /// The handle's rights.
    pub rights: Rights,
    /// The object's type.
    pub object_type: ObjectType,
    /// The peer's or owner's koid, or 0.
    pub related_koid: Koid,
}

/// Operations every handle has. Implemented by [`Handle`] and every typed handle.
pub trait AsHandleRef {
    /// The raw handle value (still owned by `self`).
    fn raw_handle(&self) -> u32;

    /// `zx_object_get_info` into `buf`: (actual records, available records).
    fn get_info_raw(&self, topic: u32, buf: &mut [u8]) -> Result<(usize, usize)> {
        let (mut actual, mut avail) = (0usize, 0usize);
        // SAFETY: the kernel writes at most buf.len() bytes and two usizes.
        unsafe {
            call_ok(
                nr::OBJECT_GET_INFO,
                [
                    self.raw_handle() as u64,
                    topic as u64,
                    addr(buf.as_mut_ptr()),
                    buf.len() as u64,
                    addr(&raw mut actual),
                    addr(&raw mut avail),
                ],
            )?
        };
        Ok((actual, avail))
    }

    /// `zx_object_wait_one`: waits until one of `signals` is asserted or `deadline`
    /// (TIMED_OUT); returns the signals observed.
    fn wait_handle(&self, signals: Signals, deadline: Time) -> Result<Signals> {
        let mut observed = 0u32;
        // SAFETY: the kernel writes one u32.
        let result = unsafe {
            call_ok(
                nr::OBJECT_WAIT_ONE,
                [
                    self.raw_handle() as u64,
                    signals.bits() as u64,
                    deadline.into_nanos() as u64,
                    addr(&raw mut observed),
                ],
            )
        };
        result.map(|()| Signals::from_bits_truncate(observed))
    }

    /// The signals asserted now (a wait with a deadline in the past).
    fn signals(&self) -> Result<Signals> {
        match self.wait_handle(Signals::from_bits_truncate(u32::MAX), Time::INFINITE_PAST) {
            Ok(s) => Ok(s),
            Err(Status::TimedOut) => Ok(Signals::NONE),
            Err(e) => Err(e),
        }
    }

    /// `zx_object_wait_async`: one packet on `port` with `key` once `signals` is met.
    fn wait_async_handle(&self, port: &Port, key: u64, signals: Signals, options: u32) -> Result {
        // SAFETY: no pointers.
        unsafe {
            call_ok(
                nr::OBJECT_WAIT_ASYNC,
                [self.raw_handle() as u64, port.raw_handle() as u64, key, signals.bits() as u64, options as u64],
            )
        }
    }

    /// `zx_object_signal`: clears then sets user signals (and SIGNALED on events).
    fn signal_handle(&self, clear: Signals, set: Signals) -> Result {
        // SAFETY: no pointers.
        unsafe { call_ok(nr::OBJECT_SIGNAL, [self.raw_handle() as u64, clear.bits() as u64, set.bits() as u64]) }
    }

    /// `ZX_INFO_HANDLE_BASIC`.
    fn basic_info(&self) -> Result<HandleBasicInfo> {
        let mut buf = [0u8; info::HANDLE_BASIC_SIZE];
        self.get_info_raw(info::HANDLE_BASIC, &mut buf)?;
        Ok(HandleBasicInfo {
            koid: le_u64(&buf, 0),
            rights: Rights::from_bits_truncate(le_u32(&buf, 8)),
            object_type: ObjectType(le_u32(&buf, 12)),
            related_koid: le_u64(&buf, 16),
        })
    }

    /// The object's koid.
    fn get_koid(&self) -> Result<Koid> {
        self.basic_info().map(|i| i.koid)
    }

    /// `ZX_INFO_HANDLE_COUNT`: handles to the object anywhere.
    fn handle_count(&self) -> Result<u32> {
        let mut buf = [0u8; info::HANDLE_COUNT_SIZE];
        self.get_info_raw(info::HANDLE_COUNT, &mut buf)?;
        Ok(le_u32(&buf, 0))
    }

    /// `ZX_PROP_NAME` into `buf`; returns the name (up to its first NUL).
    fn get_name<'b>(&self, buf: &'b mut [u8; prop::NAME_LEN]) -> Result<&'b str> {
        // SAFETY: the kernel writes 32 bytes.
        unsafe {
            call_ok(
                nr::OBJECT_GET_PROPERTY,
                [self.raw_handle() as u64, prop::NAME as u64, addr(buf.as_mut_ptr()), buf.len() as u64],
            )?
        };
        let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Ok(core::str::from_utf8(&buf[..len]).unwrap_or("?"))
    }

    /// Sets `ZX_PROP_NAME` (at most 31 bytes are kept).
    fn set_name(&self, name: &str) -> Result {
        // SAFETY: the kernel reads name.len() bytes.
        unsafe {
            call_ok(
                nr::OBJECT_SET_PROPERTY,
                [self.raw_handle() as u64, prop::NAME as u64, addr(name.as_ptr()), name.len() as u64],
            )
        }
    }

    /// `zx_handle_duplicate` into an untyped handle.
    fn duplicate_raw(&self, rights: Rights) -> Result<Handle> {
        let mut out = 0u32;
        // SAFETY: the kernel writes one u32.
        unsafe { call_ok(nr::HANDLE_DUPLICATE, [self.raw_handle() as u64, rights.bits() as u64, addr(&raw mut out)])? };
        Ok(Handle(out))
    }
}

impl AsHandleRef for Handle {
    fn raw_handle(&self) -> u32 {
        self.0
    }
}

/// A typed handle that converts to and from [`Handle`].
pub trait HandleBased: AsHandleRef + From<Handle> + Into<Handle> {
    /// `zx_handle_duplicate` with `rights` (or [`Rights::SAME_RIGHTS`]).
    fn duplicate_handle(&self, rights: Rights) -> Result<Self> {
        self.duplicate_raw(rights).map(Self::from)
    }

    /// `zx_handle_replace`: a new handle with `rights`; this one is consumed.
    fn replace_handle(self, rights: Rights) -> Result<Self> {
        let raw = self.into().into_raw();
        let mut out = 0u32;
        // SAFETY: the kernel writes one u32.
        unsafe { call_ok(nr::HANDLE_REPLACE, [raw as u64, rights.bits() as u64, addr(&raw mut out)])? };
        Ok(Self::from(Handle(out)))
    }

    /// Gives up the typed wrapper.
    fn into_handle(self) -> Handle {
        self.into()
    }
}

impl HandleBased for Handle {}

/// Declares a typed handle: a newtype over [`Handle`] with the conversions.
macro_rules! handle_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, PartialEq, Eq, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub(crate) $crate::Handle);

        impl $crate::AsHandleRef for $name {
            fn raw_handle(&self) -> u32 {
                self.0.raw()
            }
        }
        impl From<$crate::Handle> for $name {
            fn from(h: $crate::Handle) -> $name {
                $name(h)
            }
        }
        impl From<$name> for $crate::Handle {
            fn from(h: $name) -> $crate::Handle {
                h.0
            }
        }
        impl $crate::HandleBased for $name {}
        impl $name {
            /// The raw handle value (still owned).
            pub fn raw(&self) -> u32 {
                self.0.raw()
            }
        }
    };
}
pub(crate) use handle_type;
