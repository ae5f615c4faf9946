# Ferrite: `make run` boots the kernel in QEMU virt; `make test` runs every test level.
#
#   make image        target/kernel8.img (raw Linux arm64 Image) and the ELF for gdb
#   make run          build kernel and boot archive, boot into the shell on QEMU virt -smp 4
#   make run BOARD=rpi4   the same on QEMU raspi4b with the BCM2711 tree
#   make run CMD="run=demo-pingpong"   run programs without the shell, then stop
#   make test         host unit tests, kernel tests in QEMU, EL0 tests, boot matrix, KVM
#   make test-kvm     Ferrite under KVM (nested: arm64 Linux + KVM under QEMU TCG)
#   make gdb          QEMU waiting for gdb (-s -S) and the gdb command line
#   make sdcard       target/sdcard.img for a Raspberry Pi 4; make flash DEVICE=/dev/sdX
#   make bench        instruction-exact benchmarks (QEMU -icount shift=0)
#   make bench-host   host micro-benchmarks of the pure core
#   make fuzz         the syscall fuzzers, concurrent and single-threaded (CALLS=, SEEDS=)
#   make lint         the lint gates: fmt --check, clippy -D warnings (host and kernel)

SHELL := /bin/bash
TARGET := aarch64-unknown-none-softfloat
PROFILE := release
KERNEL_ELF := target/$(TARGET)/$(PROFILE)/ferrite
KERNEL_IMG := target/kernel8.img
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
OBJCOPY = $(shell rustc --print sysroot)/lib/rustlib/$(HOST)/bin/llvm-objcopy
QEMU ?= qemu-system-aarch64
BOARD ?= virt
RPI_DTB := tests/fixtures/dtb/bcm2711-rpi-4-b.dtb
USER_DIR := tests/user
USER_BIN_DIR := $(USER_DIR)/target/$(TARGET)/release
# The boot archive of user/ (init, sh, demos) that `make run` boots into.
INITRD := target/initrd.cpio
# Extra kernel command-line words for `make run`, e.g. CMD="run=demo-pingpong".
CMD ?=

ifeq ($(BOARD),rpi4)
QEMU_MACHINE := -M raspi4b -dtb $(RPI_DTB) -serial null -serial mon:stdio
else
QEMU_MACHINE := -M virt -cpu cortex-a72 -m 512M -smp 4 -serial mon:stdio
endif
QEMU_COMMON := -display none -nic none -semihosting

.PHONY: all setup image kernel initrd test-userspace run test test-host test-kernel test-user test-boot test-conformance \
        check-mmio test-kvm gdb sdcard flash bench bench-host fuzz clippy lint fmt clean user

all: image

setup:
	@scripts/setup.sh

kernel:
	cargo build --profile $(PROFILE) --target $(TARGET) --bin ferrite

image: kernel
	@mkdir -p target
	$(OBJCOPY) -O binary $(KERNEL_ELF) $(KERNEL_IMG)
	@echo "image: $(KERNEL_IMG) ($$(stat -c %s $(KERNEL_IMG)) bytes)"

run: setup image initrd
	@echo "Booting $(KERNEL_IMG) with $(INITRD) on QEMU $(BOARD): type 'poweroff' to stop (or Ctrl-A X)"
	$(QEMU) $(QEMU_MACHINE) $(QEMU_COMMON) -kernel $(KERNEL_IMG) -initrd $(INITRD) -append "$(strip $(CMD))"

# The boot archive: builds user/ and packs user/bin/* as bin/NAME (scripts/mkinitrd.sh).
initrd:
	scripts/mkinitrd.sh $(INITRD)

user:
	cd $(USER_DIR) && cargo build --release

gdb: setup image
	@echo "In another terminal: gdb-multiarch $(KERNEL_ELF) -ex 'target remote :1234'"
	$(QEMU) $(QEMU_MACHINE) $(QEMU_COMMON) -kernel $(KERNEL_IMG) -s -S

test: setup
	@scripts/test-all.sh

# Level 1: the pure core, on the host.
test-host:
	cargo test --lib --target $(HOST)

# Level 2: kernel images (tests/kernel_*.rs) booted in QEMU, exiting through semihosting.
test-kernel:
	cargo test --no-fail-fast --profile $(PROFILE) --target $(TARGET) --test 'kernel_*'
	MACHINE="-M virt -cpu max -m 512M" cargo test --no-fail-fast --profile $(PROFILE) --target $(TARGET) --test kernel_mmu
	MACHINE="-M virt -cpu cortex-a72 -smp 4 -m 512M" cargo test --no-fail-fast --profile $(PROFILE) --target $(TARGET) --test kernel_smp
	MACHINE="-M virt,gic-version=3 -cpu cortex-a72 -smp 4 -m 512M" cargo test --no-fail-fast --profile $(PROFILE) --target $(TARGET) --test kernel_smp
	MACHINE="-M virt -cpu cortex-a72 -smp 2 -m 512M" cargo test --no-fail-fast --profile $(PROFILE) --target $(TARGET) --test kernel_panic_watchdog

# Every device-register access is one ldr/str with a plain [Xn] address (what a
# hypervisor can emulate): the accessors' disassembly and the drivers' source.
check-mmio: kernel
	scripts/check-mmio.sh $(KERNEL_ELF)

# Level 3: the EL0 programs on the boot matrix, isolation cases, bad initrd, short fuzz.
test-system: image user
	scripts/system-tests.sh $(KERNEL_IMG) $(USER_BIN_DIR)

# The user space of user/: host tests of its pure parts, init running the demos, and a
# scripted shell session typed over the serial console (virt -smp 4 and raspi4b).
test-userspace: image initrd
	scripts/test-userspace.sh $(KERNEL_IMG) $(INITRD)

# Ferrite as a KVM guest: Debian's arm64 Linux with KVM at EL2 under QEMU TCG boots
# Ferrite with qemu-system-aarch64 -accel kvm (GICv3 and GICv2, 1 and 2 vCPUs) and runs
# the syscall suite inside; pinned Debian packages, cached in ~/.cache/ferrite/kvm.
test-kvm: image user
	scripts/test-kvm.sh $(KERNEL_IMG) $(USER_BIN_DIR)

# The SD card image for a Raspberry Pi 4 (skipped, not failed, when the firmware
# package cannot be fetched).
test-sdcard: image
	@scripts/mk-sdcard.sh $(KERNEL_IMG); status=$$?; \
	if [ $$status -eq 3 ]; then echo "test-sdcard: skipped (firmware source unreachable)"; \
	elif [ $$status -ne 0 ]; then exit $$status; fi

sdcard: setup image
	scripts/mk-sdcard.sh $(KERNEL_IMG)

flash:
	@test -n "$(DEVICE)" || { echo "usage: make flash DEVICE=/dev/sdX [YES=1]"; exit 2; }
	scripts/flash.sh "$(DEVICE)"

# Instruction-exact benchmarks under QEMU -icount shift=0 (two runs must agree), the
# table beside Linux 6.1, docs/BENCHMARKS.md and docs/benchmarks.svg.
bench: setup image user
	scripts/bench.sh

# Host micro-benchmarks of the pure core (page list, handle table).
bench-host:
	cd benches/host && CARGO_TARGET_DIR=$(CURDIR)/target/host-benches cargo bench --bench core

# The syscall fuzzers at full length: the concurrent fuzzer (cfuzz, -smp 4, each seed
# under MTTCG and under -icount) and the single-threaded one, CALLS (default 10 million)
# each, split over SEEDS (FUZZERS, MODES, ROUNDS, JOBS: see scripts/fuzz.sh). Short
# fixed-seed runs of both are part of `make test`.
fuzz: setup image user
	scripts/fuzz.sh $(KERNEL_IMG) $(USER_BIN_DIR)

clippy:
	cargo clippy --lib --tests --target $(HOST) -- -D warnings -W clippy::undocumented_unsafe_blocks
	cargo clippy --profile $(PROFILE) --target $(TARGET) --bin ferrite -- -D warnings -W clippy::undocumented_unsafe_blocks

# The lint gates of `make test` (scripts/lint.sh): fmt --check (kernel and tests/user),
# clippy -D warnings with undocumented_unsafe_blocks (host and kernel target), and
# missing_docs on the pure core.
lint:
	@scripts/lint.sh

fmt:
	cargo fmt
	cd $(USER_DIR) && cargo fmt
	cd user && cargo fmt

clean:
	cargo clean
	cd $(USER_DIR) && cargo clean
	cd user && cargo clean
