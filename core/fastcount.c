/*
 * Deterministic instruction counting for hypdbg's run loop.
 *
 * fc_block is registered as unicorn's UC_HOOK_BLOCK callback. unicorn calls
 * it at the start of every translation block, before the block runs, so it
 * adds the block's instruction count up front and keeps the last block's
 * shape; fc_retired takes back what an early exit (exception, trap, a stop
 * from a code or memory hook, count= running out) did not execute.
 *
 * Once the count has reached the deadline, the hook calls uc_emu_stop and
 * does not count the block: a stop requested inside a block hook makes the
 * block exit before its first instruction (the exit check is emitted after
 * the hook), so emu_start returns with PC at that block and the count equal
 * to the instructions retired. In exact mode a block that would carry the
 * count past the deadline is refused too (its shape is kept), so that the
 * caller can run the remainder up to the deadline exactly.
 *
 * ARM blocks hold size / 4 instructions; Thumb blocks are decoded (16- and
 * 32-bit instructions). Each block's count and state are cached by start
 * address and size, since reading CPSR.T costs more than the rest of the hook.
 *
 * The unicorn functions are taken from the library the Python binding
 * loaded and handed over in the state, so this object links against nothing.
 */
#include <stddef.h>
#include <stdint.h>

/* The builder passes the binding's constants: FC_REG_CPSR, FC_PROT_EXEC. */
#if !defined(FC_REG_CPSR) || !defined(FC_PROT_EXEC)
#error "build with -DFC_REG_CPSR=... -DFC_PROT_EXEC=... (python -m hypdbg.core.fastcount --build)"
#endif

#ifdef FC_OWN_DECLS
/* The unicorn package shipped no headers: the two types used here. */
typedef struct uc_struct uc_engine;
typedef int uc_err;
#else
#include <unicorn/unicorn.h>
_Static_assert(FC_REG_CPSR == UC_ARM_REG_CPSR, "binding and header disagree on CPSR");
_Static_assert(FC_PROT_EXEC == UC_PROT_EXEC, "binding and header disagree on UC_PROT_EXEC");
#endif

#define FC_ABI 6
#define FC_CACHE_BITS 14
#define FC_CACHE_SIZE (1u << FC_CACHE_BITS)
#define FC_MAX_BLOCK 4096u   /* TCG ends a block at 512 instructions: at most 2 KiB */
#define CPSR_T (1u << 5)
#define FC_SHAPE_THUMB 0x8000u   /* cache entry: bit 15 = Thumb, bits 13..0 = instructions */
#define FC_SHAPE_INSNS 0x3fffu
#define FC_REFUSED 0x4000u       /* last_shape only: the block was not counted */

typedef uc_err (*fc_stop_fn)(uc_engine *uc);
typedef uc_err (*fc_reg_read_fn)(uc_engine *uc, int regid, void *value);
typedef uc_err (*fc_vmem_read_fn)(uc_engine *uc, uint64_t address, int prot,
                                  void *bytes, size_t size);

/*
 * Shared with Python (ctypes mirror in fastcount.py); fc_state_size lets the
 * loader refuse a mismatched build. Fields Python writes while emulation may
 * be running (deadline, stop_request, enabled, exact, watch) are followed by
 * limit, which Python sets after them as refresh_limit does here; the common
 * case reads only limit.
 */
typedef struct fc_state {
    uint64_t count;         /* instructions counted (retired, once corrected) */
    uint64_t limit;         /* deadline while nothing else needs block_slow; else 0 */
    /* The last block the hook saw: (addr & 0xffffffff) << 32 | size << 16 | its cache
     * word's Thumb bit and instruction count, | FC_REFUSED if it was not counted
     * (stopped before it: count 0; refused in exact mode: count kept); 0 = none. */
    uint64_t last_shape;
    uint64_t deadline;      /* stop at the first block that starts with count >= deadline */
    uint32_t enabled;       /* 0: the hook returns at once (paused) */
    uint32_t stop_request;  /* nonzero: stop at the next block like a deadline stop */
    uint32_t exact;         /* nonzero: also refuse a block that would run past the deadline */
    uint32_t watch;         /* nonzero: (CPSR value << 16) | mask; stop once CPSR & mask moves */
    uint64_t misses;        /* blocks not found in the cache (CPSR read, Thumb decoded) */
    uint64_t read_errors;   /* Thumb blocks whose bytes could not be read */
    fc_stop_fn emu_stop;
    fc_reg_read_fn reg_read;
    fc_vmem_read_fn vmem_read;
    /* Block cache, direct mapped: addr << 32 | size << 16 | thumb << 15 | insns; 0 = empty. */
    uint64_t cache[FC_CACHE_SIZE];
    uint64_t insn_pc;       /* fc_code: address of the instruction now executing */
    /* fc_align: the first misaligned access of a slice, and the CPU state before it */
    uint64_t align_addr;
    uint64_t align_pc;
    uint32_t align_size;
    uint32_t align_write;
    uint32_t align_hit;
    uint32_t align_on;      /* 0: fc_align ignores accesses */
    void *align_ctx;                                   /* a uc_context to save into */
    uc_err (*ctx_save)(uc_engine *uc, void *context);  /* uc_context_save */
} fc_state;

int fc_abi(void) { return FC_ABI; }

size_t fc_state_size(void) { return sizeof(fc_state); }

/* Instructions in Thumb code: a first halfword 0b11101/0b11110/0b11111 starts a 32-bit one. */
static uint32_t thumb_insns(const uint8_t *code, uint32_t size)
{
    uint32_t off = 0, n = 0;
    while (off < size) {
        uint32_t top = code[off + 1] >> 3;
        off += (top >= 0x1d) ? 4 : 2;
        n++;
    }
    return n;
}

/* Thumb instructions between addr and addr + size; 0 and read_errors++ if unreadable. */
static uint32_t thumb_span(fc_state *s, uc_engine *uc, uint64_t addr, uint32_t size)
{
    uint8_t buf[FC_MAX_BLOCK + 2];
    if (size == 0)
        return 0;
    if (size > FC_MAX_BLOCK || s->vmem_read(uc, addr, FC_PROT_EXEC, buf, size) != 0) {
        s->read_errors++;
        return 0;
    }
    return thumb_insns(buf, size);
}

/*
 * Instruction count and state of a block missing from the cache: CPSR.T (a
 * register read costs more than the rest of the hook, hence the cache) and,
 * for Thumb, a decode. Kept out of line so the hit path stays short.
 */
static __attribute__((noinline, cold)) uint32_t shape_miss(fc_state *s, uc_engine *uc, uint64_t addr,
                                                           uint32_t size, uint64_t *slot, uint64_t key)
{
    uint32_t cpsr = 0, n;
    s->misses++;
    s->reg_read(uc, FC_REG_CPSR, &cpsr);
    if (!(cpsr & CPSR_T)) {
        n = size >> 2;
    } else {
        n = thumb_span(s, uc, addr, size);
        if (n == 0)   /* unreadable (counted in read_errors): a guess, not cached */
            return FC_SHAPE_THUMB | ((size + 3) / 4);
        n |= FC_SHAPE_THUMB;
    }
    *slot = key | n;
    return n;
}

/*
 * The cache is keyed by start address and size only: a block executed in both
 * states with the same size would keep the state it was first seen in.
 */
static inline uint64_t block_key(uint64_t addr, uint32_t size)
{
    return (addr & 0xffffffffu) << 32 | (uint64_t)(size & 0xffffu) << 16;
}

/* The cache slot of a block starting at (32-bit) address a. */
static inline uint32_t cache_slot(uint32_t a)
{
    return ((a >> 1) ^ (a >> (1 + FC_CACHE_BITS))) & (FC_CACHE_SIZE - 1);
}

static inline uint32_t block_shape(fc_state *s, uc_engine *uc, uint64_t addr, uint32_t size)
{
    uint64_t key = block_key(addr, size);
    uint64_t *slot = &s->cache[cache_slot((uint32_t)addr)];
    uint64_t e = *slot;
    if ((e & ~(uint64_t)0xffff) == key)
        return (uint32_t)(e & 0xffff);
    return shape_miss(s, uc, addr, size, slot, key);
}

/* limit = deadline unless paused, watching or asked to stop: then every block comes here. */
static void refresh_limit(fc_state *s)
{
    s->limit = (s->enabled && !s->watch && !s->stop_request) ? s->deadline : 0;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (s->stop_request)   /* asked from another thread meanwhile */
        s->limit = 0;
}

/*
 * Everything but the common case: paused, a CPSR watch or stop request, a block
 * missing from the cache, or one that reaches the deadline. Out of line, so
 * that the common case needs no stack frame.
 */
static __attribute__((noinline)) void block_slow(fc_state *s, uc_engine *uc, uint64_t address,
                                                 uint32_t size)
{
    uint64_t key = block_key(address, size);
    uint32_t shape, n;
    if (!s->enabled)
        return;
    if (s->watch) {
        uint32_t cpsr = 0;
        s->reg_read(uc, FC_REG_CPSR, &cpsr);
        if ((cpsr ^ (s->watch >> 16)) & s->watch & 0xffffu)
            s->stop_request = 1;
    }
    if (s->count >= s->deadline || s->stop_request) {
        s->last_shape = key | FC_REFUSED;
        s->stop_request = 0;
        refresh_limit(s);
        s->emu_stop(uc);
        return;
    }
    shape = block_shape(s, uc, address, size);
    n = shape & FC_SHAPE_INSNS;
    if (s->exact && s->count + n > s->deadline) {
        /* refused, shape kept: the caller finishes up to the deadline */
        s->last_shape = key | shape | FC_REFUSED;
        s->emu_stop(uc);
        return;
    }
    s->last_shape = key | shape;
    s->count += n;
    refresh_limit(s);
}

/*
 * The common case inline: the block's shape is cached and the count stays short
 * of the limit with it (so no deadline stop, exact-mode refusal, pause, watch or
 * stop request applies). It does what block_slow would do, in as few
 * instructions as possible: at three to five guest instructions a block, this is
 * most of what counting costs (intloop: 1.28 s against 0.80 s for a hook that
 * only adds size / 4). Comparing address and size as 32- and 16-bit fields
 * rather than building the 64-bit key took branchy from 2.11 s to 1.86 s.
 */
void fc_block(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
    fc_state *s = (fc_state *)user_data;
    uint32_t a = (uint32_t)address;   /* the fields of block_key, compared one by one */
    uint64_t e = s->cache[cache_slot(a)];
    uint64_t n = e & FC_SHAPE_INSNS;
    if (__builtin_expect((uint32_t)(e >> 32) == a && (uint16_t)(e >> 16) == (uint16_t)size
                         && s->count + n < s->limit, 1)) {
        s->last_shape = e;
        s->count += n;
        return;
    }
    block_slow(s, uc, address, size);
}

/*
 * Instructions retired if execution left the last block with PC = pc: what
 * was counted for it is replaced by the instructions before pc. A pc outside
 * the last block [addr, addr + size] leaves count as it is.
 */
uint64_t fc_retired(fc_state *s, uc_engine *uc, uint64_t pc)
{
    uint64_t last = s->last_shape, addr = last >> 32, off;
    uint32_t size = (uint32_t)(last >> 16) & 0xffffu, insns = (uint32_t)last & FC_SHAPE_INSNS, done;
    if (last == 0 || (last & FC_REFUSED) || insns == 0 || pc < addr || pc > addr + size)
        return s->count;
    off = pc - addr;
    if (!(last & FC_SHAPE_THUMB))
        done = (uint32_t)(off >> 2);
    else if (off == size)
        done = insns;
    else
        done = thumb_span(s, uc, addr, (uint32_t)off);
    return s->count - insns + done;
}

/*
 * Optional UC_HOOK_CODE callback: records the address of each instruction as it
 * starts. Registered only while a debugger watchpoint is set, because unicorn's
 * memory hooks see PC at the start of the translation block, not at the access.
 */
void fc_code(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
    (void)uc;
    (void)size;
    ((fc_state *)user_data)->insn_pc = address;
}

/*
 * Optional UC_HOOK_MEM_READ|WRITE callback for SCTLR.A/HSCTLR.A alignment checks
 * (unicorn makes none): while align_on, the first misaligned access saves the CPU
 * context and stops, so the machine can undo the access and take the alignment fault.
 * In C because a hypervisor that sets HSCTLR.A runs every one of its accesses through
 * here. The machine removes it while the regime it runs in checks nothing: as long
 * as any memory hook exists unicorn translates every load and store to its slow path,
 * so a hypervisor's guests would pay for the hypervisor's HSCTLR.A.
 */
void fc_align(uc_engine *uc, int type, uint64_t address, int size, int64_t value, void *user_data)
{
    fc_state *s = (fc_state *)user_data;
    (void)value;
    if (!s->align_on || s->align_hit || size <= 1 || !(address & (uint64_t)(size - 1)))
        return;
    s->align_hit = 1;
    s->align_addr = address;
    s->align_size = (uint32_t)size;
    s->align_write = type == 17;   /* UC_MEM_WRITE */
    s->align_pc = s->insn_pc;
    s->ctx_save(uc, s->align_ctx);
    s->emu_stop(uc);
}
