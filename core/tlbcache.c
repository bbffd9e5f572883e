/*
 * A second-level translation cache behind unicorn's TLB.
 *
 * unicorn keeps 1 KiB pages and a TLB of a few hundred entries; every miss
 * used to run the Python walker (100-250 us), so code touching more pages
 * than that TLB holds ran hundreds of times slower than QEMU. tc_fill is
 * registered as the first UC_HOOK_TLB_FILL callback: it answers a miss from
 * this cache when it can and returns false otherwise, which makes unicorn
 * call the next fill hook, the Python one, whose answer Python then stores
 * here with tc_insert.
 *
 * What may be cached is exactly what unicorn's own TLB may hold, so the cache
 * is emptied wherever that TLB is (the machine's flush_tlb, TLB maintenance
 * instructions, debugger writes): a flush bumps the generation, and entries of
 * an older generation never match. Entries are keyed by 1 KiB page and by
 * translation regime class (PL0, PL1, Hyp), because a page's permissions
 * differ between PL0 and PL1 and the Hyp regime has tables of its own.
 *
 * Only successful translations are stored. An access the stored permissions
 * refuse goes to Python, which raises the architectural fault. A fetch is
 * answered only from an entry that Python filled for a fetch: that fill is
 * where the page is scanned for instructions the machine intercepts, and data
 * fills are granted without execute permission so that a later fetch comes
 * back to it.
 *
 * A data access that misses is also walked here when its regime uses long
 * descriptors (ARM ARM B3.6) in RAM: Hyp mode's stage 1, or PL1&0 with stage 1
 * off or long-descriptor (TTBCR.EAE), followed by stage 2 when HCR.VM is set
 * (HCR.DC, TGE and PTW clear). Python arms each regime with the registers of
 * its last walk there and disarms both wherever the cache is flushed or those
 * registers may have changed. While snapshots are kept, a page must be saved
 * before it first becomes writable, which Python's fill does: write permission
 * is then granted here only for pages the snapshots' bitmap says are saved.
 * The walks follow core/stage1.py, core/lpae.py, core/stage2/walk.py and
 * core/hyp/hyp_mmu.py; anything else (a fault, short descriptors, a descriptor
 * outside RAM) is left to Python, which walks again and reports it. A Linux
 * boot makes some 130k such fills.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(FC_REG_CPSR)
#error "build with -DFC_REG_CPSR=... (python -m hypdbg.core.fastcount --build)"
#endif

#define TC_BITS 16
#define TC_SIZE (1u << TC_BITS)
#define TC_PAGE_MASK (~(uint64_t)0x3ff)
#define TC_PROT_READ 1u
#define TC_PROT_WRITE 2u
#define TC_PROT_EXEC 4u
#define TC_FETCHED 8u                 /* filled by Python for a fetch: the page was scanned */
#define TC_MEM_READ 16                /* uc_mem_type */
#define TC_MEM_WRITE 17
#define TC_MEM_FETCH 18
#define MODE_USR 0x10u
#define MODE_HYP 0x1au

typedef struct uc_struct tc_engine;
typedef int (*tc_reg_read_fn)(tc_engine *uc, int regid, void *value);
typedef int (*tc_mem_read_fn)(tc_engine *uc, uint64_t address, void *bytes, uint64_t size);

/* The registers of the regimes walked in C (set by Python; armed 0: leave misses to Python). */
typedef struct tc_walk_regs {
    uint32_t armed;      /* PL1&0 */
    uint32_t sctlr;
    uint32_t ttbcr;
    uint32_t writes;     /* 0: grant no write permission here (snapshots track writable pages) */
    uint64_t ttbr0;
    uint64_t ttbr1;
    uint64_t ram_base;   /* descriptors are read from [ram_base, ram_end) only */
    uint64_t ram_end;
    uint32_t stage2;     /* PL1&0 output goes through stage 2 (VTCR, VTTBR) */
    uint32_t vtcr;
    uint64_t vttbr;
    uint32_t hyp_armed;  /* Hyp mode's stage 1 (HSCTLR, HTCR, HTTBR) */
    uint32_t hsctlr;
    uint32_t htcr;
    uint32_t pad;
    uint64_t httbr;
    const uint8_t *saved; /* writes == 0: bitmap of RAM's 1 KiB pages a snapshot has saved */
    uint64_t saved_pages;
} tc_walk_regs;

/* unicorn's uc_tlb_entry */
typedef struct tc_tlb_entry {
    uint64_t paddr;
    int perms;
} tc_tlb_entry;

typedef struct tc_entry {
    uint64_t pa_flags;   /* physical page | TC_PROT_* | TC_FETCHED */
    uint32_t tag;        /* virtual page | regime class << 1 | 1 */
    uint32_t gen;        /* generation it was stored in */
} tc_entry;

/* Shared with Python (ctypes mirror in tlbcache.py); tc_state_size guards the layout. */
typedef struct tc_state {
    uint32_t gen;        /* current generation, never 0 */
    uint32_t pad;
    uint64_t hits;
    uint64_t misses;     /* absent, or refused by the stored permissions */
    uint64_t inserts;
    uint64_t walks;      /* misses answered by a walk here */
    tc_reg_read_fn reg_read;
    tc_mem_read_fn mem_read;
    tc_walk_regs walk;
    tc_entry table[TC_SIZE];
} tc_state;

size_t tc_state_size(void) { return sizeof(tc_state); }

static inline uint32_t regime_class(uint32_t cpsr)
{
    uint32_t mode = cpsr & 0x1fu;
    return mode == MODE_HYP ? 2u : mode == MODE_USR ? 0u : 1u;
}

static inline uint32_t slot_of(uint32_t va_page, uint32_t cls)
{
    uint32_t page = va_page >> 10;
    return (page ^ (page >> TC_BITS) ^ (cls << (TC_BITS - 2))) & (TC_SIZE - 1);
}

void tc_insert(tc_state *s, uint32_t va, uint32_t cls, uint64_t pa, uint32_t perms, uint32_t fetch);

#define SCTLR_M (1u << 0)
#define SCTLR_WXN (1u << 19)
#define SCTLR_UWXN (1u << 20)
#define TTBCR_EPD0 (1u << 7)
#define TTBCR_EPD1 (1u << 23)
#define D_AP2 (1ull << 7)
#define D_AF (1ull << 10)
#define D_PXN (1ull << 53)
#define D_XN (1ull << 54)
#define T_PXN (1ull << 59)
#define T_XN (1ull << 60)
#define T_AP0 (1ull << 61)       /* APTable[0]: no PL0 access below */
#define T_AP1 (1ull << 62)       /* APTable[1]: no write access below */
#define OA_MASK 0xfffffff000ull

/* Permissions at PL0 (pl = 0) or PL1 including execute: stage1.grant (B3.7.2). */
static uint32_t grant(uint32_t pl1_rw, uint32_t pl0_rw, uint32_t pl, int xn, int pxn, uint32_t sctlr)
{
    uint32_t rw = pl ? pl1_rw : pl0_rw;
    int no_exec = pl ? (xn || pxn || ((sctlr & SCTLR_UWXN) && (pl0_rw & TC_PROT_WRITE))) : xn;
    if (!no_exec && (rw & TC_PROT_READ) && !((sctlr & SCTLR_WXN) && (rw & TC_PROT_WRITE)))
        return rw | TC_PROT_EXEC;
    return rw;
}

/* BADDR[39:x] of a TTBR/HTTBR/VTTBR (lpae.table_base). */
static inline uint64_t table_base(uint64_t ttbr, uint32_t x)
{
    return ttbr & 0xffffffffffull & ~((1ull << x) - 1);
}

/* Start level and table alignment x of a stage-1 region of 2^(32-tsz) bytes (lpae.stage1_start,
 * B3.6.5); the table base for ttbr. */
static inline uint64_t stage1_table(uint64_t ttbr, uint32_t tsz, uint32_t *level)
{
    *level = tsz <= 1 ? 1 : 2;
    return table_base(ttbr, tsz <= 1 ? 5 - tsz : 14 - tsz);
}

typedef struct tc_leaf {
    uint64_t desc;
    uint64_t attrs;      /* OR of the table descriptors on the way (lpae.walk's table_attrs) */
    uint64_t oa;         /* output address of addr */
} tc_leaf;

static bool s2_lookup(tc_state *s, tc_engine *uc, uint64_t ipa, uint32_t need,
                      uint64_t *pa, uint32_t *perms);

/* One long-descriptor walk from table at level (lpae.walk), its descriptors read from RAM
 * (through stage 2 first when via_s2: a stage-1 walk of a guest); false unless it ends on
 * a block or page descriptor. */
static bool table_walk(tc_state *s, tc_engine *uc, uint64_t addr, uint64_t table, uint32_t level,
                       uint32_t inputsize, int via_s2, tc_leaf *leaf)
{
    static const uint32_t shift_of[4] = {0, 30, 21, 12};
    static const uint64_t block_mask[4] = {0, 0xffc0000000ull, 0xffffe00000ull, OA_MASK};
    const tc_walk_regs *w = &s->walk;
    uint32_t shift = shift_of[level];
    uint64_t index = (addr >> shift) & ((1ull << (inputsize - shift)) - 1), desc = 0, attrs = 0;
    for (;;) {
        uint64_t at = table | (index << 3), kind;
        if (via_s2) {                                 /* the descriptor's IPA, read-checked */
            uint64_t at_pa;
            uint32_t s2_perms;
            if (!s2_lookup(s, uc, at, TC_PROT_READ, &at_pa, &s2_perms))
                return false;
            at = at_pa;
        }
        if (at < w->ram_base || at + 8 > w->ram_end || s->mem_read(uc, at, &desc, 8) != 0)
            return false;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        desc = __builtin_bswap64(desc);               /* guest memory is little-endian */
#endif
        kind = desc & 3;
        if (kind == 3 && level < 3) {
            attrs |= desc;
            table = desc & OA_MASK;
            level++;
            shift = shift_of[level];
            index = (addr >> shift) & 0x1ff;
            continue;
        }
        if ((kind == 1 && level < 3) || (kind == 3 && level == 3))
            break;
        return false;                                 /* translation fault */
    }
    if (!(desc & D_AF))
        return false;                                 /* access flag fault */
    leaf->desc = desc;
    leaf->attrs = attrs;
    leaf->oa = (desc & block_mask[level]) | (addr & ((1ull << shift) - 1));
    return true;
}

/* Stage 2 (stage2.walk.lookup without HCR.PTW): PA and permissions of ipa if need is granted. */
static bool s2_lookup(tc_state *s, tc_engine *uc, uint64_t ipa, uint32_t need,
                      uint64_t *pa, uint32_t *perms)
{
    const tc_walk_regs *w = &s->walk;
    int32_t t0sz = (int32_t)(w->vtcr & 0xfu);
    uint32_t sl0 = (w->vtcr >> 6) & 3u, level, x, inputsize, hap;
    tc_leaf leaf;
    if (t0sz & 8)
        t0sz -= 16;
    if (sl0 == 1 && t0sz <= 1) {                       /* stage2_params (B3.6.5) */
        level = 1;
        x = (uint32_t)(5 - t0sz);
    } else if (sl0 == 0 && t0sz >= -2) {
        level = 2;
        x = (uint32_t)(14 - t0sz);
    } else {
        return false;
    }
    inputsize = (uint32_t)(32 - t0sz);
    if (ipa >> inputsize)
        return false;
    if (!table_walk(s, uc, ipa, table_base(w->vttbr, x), level, inputsize, 0, &leaf))
        return false;
    hap = (uint32_t)(leaf.desc >> 6) & 3u;
    *perms = ((hap & 1u) ? TC_PROT_READ : 0) | ((hap & 2u) ? TC_PROT_WRITE : 0);
    if ((*perms & TC_PROT_READ) && !(leaf.desc & D_XN))
        *perms |= TC_PROT_EXEC;
    if ((*perms & need) != need)
        return false;                                 /* stage-2 permission fault */
    *pa = leaf.oa;
    return true;
}

/* PL1&0 (stage1.translate_pl10): stage 1 off or long-descriptor, then stage 2 if on. */
static bool walk_pl10(tc_state *s, tc_engine *uc, uint32_t va, uint32_t pl, uint32_t need,
                      uint64_t *pa, uint32_t *perms)
{
    /* AP[2:1] -> (PL1, PL0) read/write (stage1._AP_SIMPLE) */
    static const uint32_t ap_pl1[4] = {3, 3, 1, 1}, ap_pl0[4] = {0, 3, 0, 1};
    const tc_walk_regs *w = &s->walk;
    uint64_t ipa;
    uint32_t s1_perms;
    if (!(w->sctlr & SCTLR_M)) {                      /* stage 1 off: flat */
        ipa = va;
        s1_perms = TC_PROT_READ | TC_PROT_WRITE | TC_PROT_EXEC;
    } else {
        uint32_t t0sz = w->ttbcr & 7u, t1sz = (w->ttbcr >> 16) & 7u, tsz, level, ap;
        uint64_t table;
        uint32_t pl1_rw, pl0_rw;
        int use_ttbr1;
        tc_leaf leaf;
        if (t0sz && !(va >> (32 - t0sz)))              /* stage1._walk_long (B3.6.4) */
            use_ttbr1 = 0;
        else if (t1sz && (va >> (32 - t1sz)) == (1u << t1sz) - 1u)
            use_ttbr1 = 1;
        else if (!t0sz)
            use_ttbr1 = 0;
        else if (!t1sz)
            use_ttbr1 = 1;
        else
            return false;
        if (w->ttbcr & (use_ttbr1 ? TTBCR_EPD1 : TTBCR_EPD0))
            return false;
        tsz = use_ttbr1 ? t1sz : t0sz;
        table = stage1_table(use_ttbr1 ? w->ttbr1 : w->ttbr0, tsz, &level);
        if (!table_walk(s, uc, va, table, level, 32 - tsz, (int)w->stage2, &leaf))
            return false;
        ap = (uint32_t)(leaf.desc >> 6) & 3u;
        pl1_rw = ap_pl1[ap];
        pl0_rw = ap_pl0[ap];
        if (leaf.attrs & T_AP0)
            pl0_rw = 0;
        if (leaf.attrs & T_AP1) {
            pl1_rw &= ~TC_PROT_WRITE;
            pl0_rw &= ~TC_PROT_WRITE;
        }
        s1_perms = grant(pl1_rw, pl0_rw, pl, (leaf.desc & D_XN) || (leaf.attrs & T_XN),
                         (leaf.desc & D_PXN) || (leaf.attrs & T_PXN), w->sctlr);
        if ((s1_perms & need) != need)
            return false;                             /* stage-1 permission fault */
        ipa = leaf.oa;
    }
    if (!w->stage2) {
        *pa = ipa;
        *perms = s1_perms;
        return true;
    }
    if (!s2_lookup(s, uc, ipa, need, pa, perms))
        return false;
    *perms &= s1_perms;
    return true;
}

/* Hyp mode's stage 1 (hyp_mmu.translate_hyp). */
static bool walk_hyp(tc_state *s, tc_engine *uc, uint32_t va, uint32_t need,
                     uint64_t *pa, uint32_t *perms)
{
    const tc_walk_regs *w = &s->walk;
    uint32_t tsz = w->htcr & 7u, level;
    uint64_t table;
    tc_leaf leaf;
    if (!(w->hsctlr & SCTLR_M)) {
        *pa = va;
        *perms = TC_PROT_READ | TC_PROT_WRITE | TC_PROT_EXEC;
        return true;
    }
    if (tsz && (va >> (32 - tsz)))
        return false;
    table = stage1_table(w->httbr, tsz, &level);
    if (!table_walk(s, uc, va, table, level, 32 - tsz, 0, &leaf))
        return false;
    *perms = ((leaf.desc & D_AP2) || (leaf.attrs & T_AP1)) ? TC_PROT_READ
                                                           : TC_PROT_READ | TC_PROT_WRITE;
    if (!((leaf.desc & D_XN) || (leaf.attrs & T_XN)
          || ((w->hsctlr & SCTLR_WXN) && (*perms & TC_PROT_WRITE))))
        *perms |= TC_PROT_EXEC;
    if ((*perms & need) != need)
        return false;
    *pa = leaf.oa;
    return true;
}

/* A data access's translation in its armed regime (class 0 PL0, 1 PL1, 2 Hyp), if granted. */
static bool walk_data(tc_state *s, tc_engine *uc, uint32_t va, uint32_t cls, uint32_t need,
                      uint64_t *pa, uint32_t *perms)
{
    if (cls == 2u)
        return s->walk.hyp_armed && walk_hyp(s, uc, va, need, pa, perms);
    return s->walk.armed && walk_pl10(s, uc, va, cls, need, pa, perms);
}

/* While snapshots are kept: whether the page at pa was saved since the last one. */
static bool page_saved(const tc_state *s, uint64_t pa)
{
    const tc_walk_regs *w = &s->walk;
    uint64_t page;
    if (!w->saved || pa < w->ram_base || pa >= w->ram_end)
        return false;
    page = (pa - w->ram_base) >> 10;
    return page < w->saved_pages && ((w->saved[page >> 3] >> (page & 7)) & 1u);
}

bool tc_fill(tc_engine *uc, uint64_t vaddr, int type, tc_tlb_entry *result, void *user_data)
{
    tc_state *s = (tc_state *)user_data;
    uint32_t cpsr = 0, cls, va_page, need, flags, perms;
    uint64_t pa;
    tc_entry *e;
    s->reg_read(uc, FC_REG_CPSR, &cpsr);
    cls = regime_class(cpsr);
    va_page = (uint32_t)(vaddr & TC_PAGE_MASK);
    e = &s->table[slot_of(va_page, cls)];
    need = type == TC_MEM_WRITE ? TC_PROT_WRITE : type == TC_MEM_FETCH ? TC_PROT_EXEC | TC_FETCHED
                                                                     : TC_PROT_READ;
    if (e->gen == s->gen && e->tag == (va_page | cls << 1 | 1u)) {
        flags = (uint32_t)(e->pa_flags & 0x3ff);
        if ((flags & need) == need) {
            result->paddr = e->pa_flags & TC_PAGE_MASK;
            result->perms = (int)(flags & (TC_PROT_READ | TC_PROT_WRITE |
                                           (type == TC_MEM_FETCH ? TC_PROT_EXEC : 0)));
            s->hits++;
            return true;
        }
    }
    s->misses++;
    if (type == TC_MEM_FETCH || !walk_data(s, uc, (uint32_t)vaddr, cls, need, &pa, &perms))
        return false;
    if (!s->walk.writes && !page_saved(s, pa)) {
        if (type == TC_MEM_WRITE)
            return false;
        perms &= ~TC_PROT_WRITE;
    }
    tc_insert(s, (uint32_t)vaddr, cls, pa & TC_PAGE_MASK, perms, 0);
    s->walks++;
    result->paddr = pa & TC_PAGE_MASK;
    result->perms = (int)(perms & (TC_PROT_READ | TC_PROT_WRITE));
    return true;
}

/* For tests: the walk tc_fill would make for a data access (write: 1) at va in regime class
 * cls (0 PL0, 1 PL1, 2 Hyp). */
int tc_walk(tc_state *s, tc_engine *uc, uint32_t va, uint32_t cls, uint32_t write,
            uint64_t *pa, uint32_t *perms)
{
    return walk_data(s, uc, va, cls, write ? TC_PROT_WRITE : TC_PROT_READ, pa, perms) ? 1 : 0;
}

/* Store what the Python fill granted for va in regime class cls (fetch: it scanned the page). */
void tc_insert(tc_state *s, uint32_t va, uint32_t cls, uint64_t pa, uint32_t perms, uint32_t fetch)
{
    uint32_t va_page = va & (uint32_t)TC_PAGE_MASK;
    tc_entry *e = &s->table[slot_of(va_page, cls)];
    uint32_t tag = va_page | cls << 1 | 1u;
    uint32_t keep = (e->gen == s->gen && e->tag == tag) ? (uint32_t)(e->pa_flags & TC_FETCHED) : 0;
    if (keep && (e->pa_flags & TC_PAGE_MASK) != (pa & TC_PAGE_MASK))
        keep = 0;
    e->pa_flags = (pa & TC_PAGE_MASK) | (perms & 7u) | keep | (fetch ? TC_FETCHED : 0);
    e->tag = tag;
    e->gen = s->gen;
    s->inserts++;
}

/* Forget everything (a new generation; the table is cleared only when the counter wraps). */
void tc_flush(tc_state *s)
{
    if (++s->gen == 0) {
        memset(s->table, 0, sizeof(s->table));
        s->gen = 1;
    }
}

/* Forget the 4 KiB page holding va in every regime: TLB invalidate by address. */
void tc_invalidate_page(tc_state *s, uint32_t va)
{
    uint32_t base = va & ~0xfffu, q, cls;
    for (q = 0; q < 4; q++) {
        uint32_t va_page = base | q << 10;
        for (cls = 0; cls < 3; cls++) {
            tc_entry *e = &s->table[slot_of(va_page, cls)];
            if (e->tag == (va_page | cls << 1 | 1u))
                e->gen = 0;
        }
    }
}
