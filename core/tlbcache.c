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
    tc_reg_read_fn reg_read;
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

bool tc_fill(tc_engine *uc, uint64_t vaddr, int type, tc_tlb_entry *result, void *user_data)
{
    tc_state *s = (tc_state *)user_data;
    uint32_t cpsr = 0, cls, va_page, need, flags;
    tc_entry *e;
    s->reg_read(uc, FC_REG_CPSR, &cpsr);
    cls = regime_class(cpsr);
    va_page = (uint32_t)(vaddr & TC_PAGE_MASK);
    e = &s->table[slot_of(va_page, cls)];
    if (e->gen != s->gen || e->tag != (va_page | cls << 1 | 1u)) {
        s->misses++;
        return false;
    }
    flags = (uint32_t)(e->pa_flags & 0x3ff);
    need = type == TC_MEM_WRITE ? TC_PROT_WRITE : type == TC_MEM_FETCH ? TC_PROT_EXEC | TC_FETCHED
                                                                     : TC_PROT_READ;
    if ((flags & need) != need) {
        s->misses++;
        return false;
    }
    result->paddr = e->pa_flags & TC_PAGE_MASK;
    result->perms = (int)(flags & (TC_PROT_READ | TC_PROT_WRITE | (type == TC_MEM_FETCH ? TC_PROT_EXEC : 0)));
    s->hits++;
    return true;
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
