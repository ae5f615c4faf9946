//! Bit sets over the kernel's constants (`abi`), in the shape of the `bitflags` crate.

use crate::abi::{child, rights as r, signal as s, vm};

macro_rules! flags {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $flag:ident = $value:expr;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(u32);

        impl $name {
            $($(#[$fmeta])* pub const $flag: $name = $name($value);)*
            /// No bit set.
            pub const fn empty() -> $name {
                $name(0)
            }
            /// The raw bits.
            pub const fn bits(self) -> u32 {
                self.0
            }
            /// From raw bits, all kept.
            pub const fn from_bits_truncate(bits: u32) -> $name {
                $name(bits)
            }
            /// Every bit of `other` is set here.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }
            /// Some bit of `other` is set here.
            pub const fn intersects(self, other: $name) -> bool {
                self.0 & other.0 != 0
            }
            /// No bit set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }
        }
        impl core::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, o: $name) -> $name {
                $name(self.0 | o.0)
            }
        }
        impl core::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, o: $name) {
                self.0 |= o.0;
            }
        }
        impl core::ops::BitAnd for $name {
            type Output = $name;
            fn bitand(self, o: $name) -> $name {
                $name(self.0 & o.0)
            }
        }
        impl core::ops::Not for $name {
            type Output = $name;
            fn not(self) -> $name {
                $name(!self.0)
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({:#x})", stringify!($name), self.0)
            }
        }
    };
}

flags! {
    /// Handle rights (`ZX_RIGHT_*`).
    Rights {
        /// No rights.
        NONE = r::NONE;
        /// May be duplicated.
        DUPLICATE = r::DUPLICATE;
        /// May be sent over a channel.
        TRANSFER = r::TRANSFER;
        /// May read.
        READ = r::READ;
        /// May write.
        WRITE = r::WRITE;
        /// May map executable.
        EXECUTE = r::EXECUTE;
        /// May be mapped.
        MAP = r::MAP;
        /// May read properties.
        GET_PROPERTY = r::GET_PROPERTY;
        /// May set properties.
        SET_PROPERTY = r::SET_PROPERTY;
        /// May enumerate children.
        ENUMERATE = r::ENUMERATE;
        /// May destroy (kill).
        DESTROY = r::DESTROY;
        /// May signal the object.
        SIGNAL = r::SIGNAL;
        /// May signal the peer.
        SIGNAL_PEER = r::SIGNAL_PEER;
        /// May be waited on.
        WAIT = r::WAIT;
        /// May be inspected.
        INSPECT = r::INSPECT;
        /// May manage a job.
        MANAGE_JOB = r::MANAGE_JOB;
        /// May manage a process.
        MANAGE_PROCESS = r::MANAGE_PROCESS;
        /// May manage a thread.
        MANAGE_THREAD = r::MANAGE_THREAD;
        /// The rights of the source handle (duplicate, replace).
        SAME_RIGHTS = r::SAME_RIGHTS;
        /// TRANSFER | DUPLICATE | WAIT | INSPECT.
        BASIC = r::BASIC;
    }
}

flags! {
    /// Object signals (`ZX_*_SIGNAL*`); one bit means different things on different types.
    Signals {
        /// No signal.
        NONE = 0;
        /// Channel: a message is queued.
        CHANNEL_READABLE = s::CHANNEL_READABLE;
        /// Channel: the peer is open.
        CHANNEL_WRITABLE = s::CHANNEL_WRITABLE;
        /// Channel: the peer is closed.
        CHANNEL_PEER_CLOSED = s::PEER_CLOSED;
        /// Eventpair: the peer is closed.
        EVENTPAIR_PEER_CLOSED = s::PEER_CLOSED;
        /// Event, eventpair: signaled.
        EVENT_SIGNALED = s::SIGNALED;
        /// Timer: the deadline passed.
        TIMER_SIGNALED = s::SIGNALED;
        /// Process, thread, job: ended.
        TASK_TERMINATED = s::TASK_TERMINATED;
        /// Process: ended (an alias of TASK_TERMINATED).
        PROCESS_TERMINATED = s::TASK_TERMINATED;
        /// Thread: started and not dead.
        THREAD_RUNNING = s::THREAD_RUNNING;
        /// Job: no child job.
        JOB_NO_JOBS = s::JOB_NO_JOBS;
        /// Job: no child process.
        JOB_NO_PROCESSES = s::JOB_NO_PROCESSES;
        /// VMO: no child.
        VMO_ZERO_CHILDREN = s::VMO_ZERO_CHILDREN;
        /// In results only: the handle waited through was closed.
        HANDLE_CLOSED = s::HANDLE_CLOSED;
        /// User signal 0.
        USER_0 = 1 << 24;
        /// User signal 1.
        USER_1 = 1 << 25;
        /// User signal 2.
        USER_2 = 1 << 26;
        /// User signal 3.
        USER_3 = 1 << 27;
        /// The eight user signals.
        USER_ALL = s::USER_ALL;
    }
}

flags! {
    /// `zx_vmar_map`, `zx_vmar_protect` and `zx_vmar_allocate` options (`ZX_VM_*`).
    VmarFlags {
        /// Readable.
        PERM_READ = vm::PERM_READ;
        /// Writable.
        PERM_WRITE = vm::PERM_WRITE;
        /// Executable.
        PERM_EXECUTE = vm::PERM_EXECUTE;
        /// Placement hint: low addresses.
        COMPACT = vm::COMPACT;
        /// At the given offset.
        SPECIFIC = vm::SPECIFIC;
        /// A new VMAR allows SPECIFIC mappings.
        CAN_MAP_SPECIFIC = vm::CAN_MAP_SPECIFIC;
        /// A new VMAR allows READ mappings.
        CAN_MAP_READ = vm::CAN_MAP_READ;
        /// A new VMAR allows WRITE mappings.
        CAN_MAP_WRITE = vm::CAN_MAP_WRITE;
        /// A new VMAR allows EXECUTE mappings.
        CAN_MAP_EXECUTE = vm::CAN_MAP_EXECUTE;
        /// Commit and map every page now.
        MAP_RANGE = vm::MAP_RANGE;
        /// Refuse a resizable VMO.
        REQUIRE_NON_RESIZABLE = vm::REQUIRE_NON_RESIZABLE;
    }
}

flags! {
    /// `zx_vmo_create` options.
    VmoOptions {
        /// The VMO may be resized.
        RESIZABLE = crate::abi::VMO_RESIZABLE;
    }
}

flags! {
    /// `zx_vmo_create_child` options.
    VmoChildOptions {
        /// A copy-on-write snapshot.
        SNAPSHOT = child::SNAPSHOT;
        /// Copy-on-write at least on write.
        SNAPSHOT_AT_LEAST_ON_WRITE = child::SNAPSHOT_AT_LEAST_ON_WRITE;
        /// A window onto the parent's pages.
        SLICE = child::SLICE;
        /// The child may be resized.
        RESIZABLE = child::RESIZABLE;
        /// The child's handle lacks WRITE.
        NO_WRITE = child::NO_WRITE;
    }
}
