//! Kernel test image: running out of memory. Exhausts the frame allocator page by page
//! (it must answer `NoMemory`, never panic, after exactly `free_bytes / 4096` pages, and
//! take every page back), commits a VMO larger than free memory (`NoMemory`, with every
//! frame accounted for and returned on release), and asks the heap for more than it has
//! through `try_reserve` (a clean error, the heap unchanged and still usable).
//!
//! Booted in QEMU by `scripts/run-kernel-test.sh` (`make test-kernel`); on the host it
//! builds to an empty program so that `cargo test` on the host stays green.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    extern crate alloc;

    use alloc::vec::Vec;
    use ferrite::abi::{PAGE_SIZE, op, rights};
    use ferrite::arch::aarch64::{heap, mmu};
    use ferrite::error::ZxError;
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::memory::{FramePages, LinearMapCaches};
    use ferrite::kernel::testing::{TestFailure, TestResult, run_tests};
    use ferrite::kernel::with_kernel;
    use ferrite::mm::PhysAddr;
    use ferrite::{check, check_eq, check_matches};

    /// What the loader handed over: the device tree must never be handed out.
    static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

    #[unsafe(no_mangle)]
    fn ferrite_main(info: BootInfo) -> ! {
        BOOT_INFO.call_once(|| info);
        run_tests(ferrite::kernel_tests!(
            memory:
            frames_run_out_with_no_memory_and_all_come_back,
            impossible_frame_requests_are_refused,
            vmo_commit_runs_out_and_release_returns_every_frame,
            heap_try_reserve_fails_cleanly,
        ))
    }

    fn frames_run_out_with_no_memory_and_all_come_back() -> TestResult {
        let Some(info) = BOOT_INFO.get().copied() else {
            return Err(TestFailure::new("no boot info"));
        };
        with_kernel(|k| {
            let free = k.frames.free_bytes();
            let total = k.frames.total_bytes();
            let expected = (free / PAGE_SIZE) as usize;
            check!(expected > 1000, "only {expected} free frames");
            let mut held: Vec<PhysAddr> = Vec::new();
            if held.try_reserve_exact(expected + 1).is_err() {
                return Err(TestFailure::new(format_args!("no heap for a list of {expected} frames")));
            }
            // Take every frame (stopping one past the expected count, so a miscounting
            // allocator cannot make the list grow on the heap).
            let stopped_by = loop {
                if held.len() > expected {
                    break None;
                }
                match k.frames.alloc() {
                    Ok(pa) => held.push(pa),
                    Err(e) => break Some(e),
                }
            };
            let exhausted_free = k.frames.free_bytes();
            let again = k.frames.alloc();
            let again_contiguous = k.frames.alloc_contiguous(1, 1);

            // Examine the frames while holding them, then give every one back before
            // reporting, so that a failure here does not starve the next tests.
            let verdict = examine_frames(&mut held, &info, ferrite::kernel::machine().dtb_total_size as u64);
            for &pa in held.iter() {
                k.frames.free(pa);
            }
            if let Ok(pa) = again {
                k.frames.free(pa);
            }
            if let Ok(pa) = again_contiguous {
                k.frames.free(pa);
            }

            check_eq!(stopped_by, Some(ZxError::NoMemory), "after {} frames", held.len());
            check_eq!(held.len(), expected, "frames handed out != free_bytes / 4096 at the start");
            check_eq!(exhausted_free, 0);
            check_eq!(again, Err(ZxError::NoMemory));
            check_eq!(again_contiguous, Err(ZxError::NoMemory));
            verdict?;
            check_eq!(k.frames.free_bytes(), free, "free bytes after freeing every frame");
            check_eq!(k.frames.total_bytes(), total);
            // Freed pages coalesced again: a 4 MiB aligned run is available.
            let run = k.frames.alloc_contiguous(1024, 1024);
            check_matches!(run, Ok(pa) if pa.0 % (4 << 20) == 0);
            if let Ok(pa) = run {
                k.frames.free_contiguous(pa, 1024);
            }
            check_eq!(k.frames.free_bytes(), free);
            Ok(())
        })
    }

    /// Every frame handed out is a distinct, aligned page of RAM outside the image and
    /// the device tree. Sorts `held`.
    fn examine_frames(held: &mut [PhysAddr], info: &BootInfo, dtb_size: u64) -> TestResult {
        let ram = ferrite::kernel::memory::RAM.get().ok_or_else(|| TestFailure::new("no RAM map"))?;
        let (image_start, image_end) = mmu::kernel_phys_range();
        let dtb = (info.dtb.0, info.dtb.0 + dtb_size);
        held.sort_unstable();
        for pair in held.windows(2) {
            check!(pair[0] != pair[1], "frame {} handed out twice", pair[0]);
        }
        for &pa in held.iter() {
            check_eq!(pa.0 % PAGE_SIZE, 0, "unaligned frame");
            check!(ram.contains(pa) && ram.contains(PhysAddr(pa.0 + PAGE_SIZE - 1)), "frame {pa} is not RAM");
            let overlaps = |(s, e): (u64, u64)| pa.0 < e && s < pa.0 + PAGE_SIZE;
            check!(!overlaps((image_start, image_end)), "frame {pa} is inside the kernel image");
            check!(!overlaps(dtb), "frame {pa} is inside the device tree");
        }
        Ok(())
    }

    fn impossible_frame_requests_are_refused() -> TestResult {
        with_kernel(|k| {
            let free = k.frames.free_bytes();
            let free_pages = (free / PAGE_SIZE) as usize;
            check_eq!(k.frames.alloc_contiguous(0, 1), Err(ZxError::InvalidArgs));
            check_eq!(k.frames.alloc_contiguous(1, 3), Err(ZxError::InvalidArgs));
            check_eq!(k.frames.alloc_contiguous(free_pages + 1, 1), Err(ZxError::NoMemory));
            check_eq!(k.frames.alloc_contiguous(usize::MAX, 1), Err(ZxError::NoMemory));
            check_eq!(k.frames.alloc_contiguous(1, 1 << 40), Err(ZxError::NoMemory));
            check_eq!(k.frames.free_bytes(), free, "a refused request changed the free count");
            Ok(())
        })
    }

    fn vmo_commit_runs_out_and_release_returns_every_frame() -> TestResult {
        with_kernel(|k| {
            let free = k.frames.free_bytes();
            let vmos_before = k.vmos.vmo_count();
            let committed_before = k.vmos.committed_frames_total();
            // More than all free memory, so the commit must run out.
            let size = free + 64 * PAGE_SIZE;
            let koid = ferrite::kernel::object::new_koid();
            let id = match k.vmos.create(koid, size, 0) {
                Ok(id) => id,
                Err(e) => return Err(TestFailure::new(format_args!("vmo create of {size:#x} bytes: {e:?}"))),
            };
            let mut mem = FramePages { frames: &mut k.frames };
            let result = k.vmos.op_range(id, op::COMMIT, 0, size, rights::DEFAULT_VMO, &mut mem, &mut LinearMapCaches);
            let committed = k.vmos.info(id).committed_bytes;
            let free_when_full = k.frames.free_bytes();
            let heap_when_full = heap::used_bytes();
            let heap_room_when_full = heap::has_headroom();

            let mut mem = FramePages { frames: &mut k.frames };
            k.vmos.release(id, &mut mem);
            let _ = k.vmos.take_invalidations().count();

            check_eq!(result, Err(ZxError::NoMemory), "committing {size:#x} bytes with {free:#x} free");
            check!(committed > 0, "nothing was committed");
            check_eq!(committed + free_when_full, free, "frames lost during the commit (heap {heap_when_full} bytes)");
            // The commit stops when frames run out, or earlier when the heap that tracks
            // them would (the kernel refuses rather than fail a heap allocation).
            check!(
                free_when_full == 0 || !heap_room_when_full,
                "the commit stopped with {free_when_full:#x} bytes free and heap room left"
            );
            check_eq!(k.frames.free_bytes(), free, "release did not return every frame");
            check_eq!(k.vmos.committed_frames_total(), committed_before);
            check_eq!(k.vmos.vmo_count(), vmos_before);
            Ok(())
        })
    }

    fn heap_try_reserve_fails_cleanly() -> TestResult {
        let heap_bytes = with_kernel(|k| k.heap_bytes) as usize;
        let used = heap::used_bytes();
        let mut big: Vec<u8> = Vec::new();
        // More than the whole heap, and far more than RAM.
        check!(big.try_reserve_exact(heap_bytes + 1).is_err(), "more than the {heap_bytes}-byte heap");
        check!(big.try_reserve(1 << 40).is_err(), "1 TiB from the heap");
        // Larger than the address space: a capacity overflow, not an allocation.
        let mut words: Vec<u64> = Vec::new();
        check!(words.try_reserve(usize::MAX / 4).is_err());
        check_eq!(big.capacity(), 0);
        check_eq!(heap::used_bytes(), used, "a failed reservation changed the heap");
        // The heap still serves ordinary requests.
        let mut small: Vec<u64> = Vec::new();
        check!(small.try_reserve(4096).is_ok());
        small.extend(0..4096u64);
        check_eq!(small.iter().sum::<u64>(), 4095 * 4096 / 2);
        drop(small);
        check_eq!(heap::used_bytes(), used, "the heap leaked");
        Ok(())
    }
}
